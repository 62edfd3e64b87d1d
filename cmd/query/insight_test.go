package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/query"
)

// TestIncidentRendering renders an incident with a spike (the fixture tests in query check
// the numbers on both ClickHouses): every part is there, and hostile text stays inert.
func TestIncidentRendering(t *testing.T) {
	until := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	inc := &query.Incident{Since: until.Add(-30 * time.Minute), Until: until, Total: 61, Baseline: 13 * time.Hour,
		Spikes: []query.IncidentSpike{{Spike: query.Spike{ErrorType: "billing_not_verified", Observed: 61, Expected: 1.2, Ratio: 50.8,
			Basis: query.BasisRecent, Category: "billing", Actor: "account_admin", Remediation: "Add a card | then *retry* \x1b]8;;http://evil\x07",
			DocsURL: "https://docs.example.test/errors#billing_not_verified"}, FirstSeen: until.Add(-29 * time.Minute)}},
		Orgs:  []query.OrgRow{{OrganizationID: "org-acme", Count: 61, Share: 1}},
		Envs:  []query.EnvRow{{Environment: "live", Count: 61, Share: 1}},
		Scope: []string{"billing_not_verified"},
		Trend: &query.TrendResult{Bucket: time.Minute, All: query.Series{Total: 61, Counts: []uint64{1, 2, 58}},
			Types: []query.Series{{ErrorType: "billing_not_verified", Total: 61, Counts: []uint64{1, 2, 58}}}},
	}
	for _, format := range []string{"table", formatMarkdown} {
		var out bytes.Buffer
		a := &app{stdout: &out, stderr: &out, loc: time.UTC, format: format}
		if format == "table" {
			a.incidentTable(inc, "http://grafana.test/", "")
		} else {
			a.incidentMarkdown(inc, "http://grafana.test/", "https://wiki.test/oncall")
		}
		got := out.String()
		wants := []string{"1 spike(s)", "billing_not_verified", "org-acme", "live", "▁▁█",
			"http://grafana.test/d/faultline-error-type/faultline-error-type?var-error_type=billing_not_verified"}
		if format == formatMarkdown {
			wants = append(wants, "| `billing_not_verified` | 61 | 1.20 | 50.80x | recent |", `Add a card \| then \*retry\* \\u001b\]8;;http://evil\\u0007`,
				"- [billing\\_not\\_verified docs](<https://docs.example.test/errors#billing_not_verified>)", "- [Runbook](<https://wiki.test/oncall>)")
			if strings.Contains(got, "\x1b") || strings.Contains(got, "\x07") {
				t.Errorf("markdown carries control characters:\n%q", got)
			}
		} else {
			wants = append(wants, "what to do: Add a card", "docs: https://docs.example.test/errors#billing_not_verified")
		}
		for _, w := range wants {
			if !strings.Contains(got, w) {
				t.Errorf("%s lacks %q:\n%s", format, w, got)
			}
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"a|b", `a\|b`},
		{"[x](http://y)", `\[x\](http://y)`},
		{"<script>", `\<script\>`},
		{"line\nbreak", `line\\u000abreak`},
		{"bidi\u202eevil", `bidi\\u202eevil`},
		{"é ok", "é ok"},
	} {
		if got := md(c.in); got != c.want {
			t.Errorf("md(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if got := mdURL("https://x.test/a b>c"); got != "https://x.test/a%20b%3Ec" {
		t.Errorf("mdURL = %q", got)
	}
}
