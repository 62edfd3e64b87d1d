package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/query"
)

// formatMarkdown is the extra --format of commands annotated with it (incident).
const formatMarkdown = "markdown"

func (a *app) driftCmd() *cobra.Command {
	var minCount uint64
	var overrides bool
	cmd := &cobra.Command{
		Use:   "drift",
		Short: "Catalog types arriving with an error_message or error_url that differs from the catalog (default last 7d)",
		Long: `drift lists known error types whose events the ingester flagged message_mismatch or
url_mismatch, grouped by the text they carry now, with how many events and since when,
busiest first. Texts the catalog table has caught up with are left out. Usually the API's
docs changed: --overrides prints ready entries for the overrides file (config
catalog.overrides) that make the catalog expect the new text; regenerate the base catalog
with catalog-gen -diff once the docs page is updated.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.prepare(cmd, "7d")
			if err != nil {
				return err
			}
			rows, truncated, err := a.client.Drift(ctxOf(cmd), f, minCount)
			if err != nil {
				return err
			}
			if overrides {
				if a.format != "table" {
					return fmt.Errorf("--overrides prints YAML: --format %s does not apply", a.format)
				}
				if len(rows) == 0 {
					a.empty("no drift between " + a.window(f) + ": no override entries")
					return nil
				}
				y, err := query.DriftOverrides(rows)
				if err != nil {
					return err
				}
				_, err = a.stdout.Write(y)
				a.warnTruncated(truncated)
				return err
			}
			switch a.format {
			case "json":
				if rows == nil {
					rows = []query.DriftRow{}
				}
				if err := a.writeJSON(rows); err != nil {
					return err
				}
			case "csv":
				var out [][]string
				for _, r := range rows {
					out = append(out, []string{r.ErrorType, u(r.Count), r.FirstSeen.Format(time.RFC3339), r.LastSeen.Format(time.RFC3339),
						bs(r.MessageChanged), r.ErrorMessage, r.CatalogMessage, bs(r.URLChanged), r.ErrorURL, r.CatalogURL})
				}
				if err := a.writeCSV([]string{"error_type", "count", "first_seen", "last_seen", "message_changed", "error_message",
					"catalog_message", "url_changed", "error_url", "catalog_url"}, out); err != nil {
					return err
				}
			}
			if len(rows) == 0 {
				a.empty(fmt.Sprintf("no drift between %s (no known type with at least %d events carrying another message or URL)", a.window(f), minCount))
				return nil
			}
			if a.format == "table" {
				t := table{header: []string{"ERROR TYPE", "COUNT", "FIRST SEEN", "LAST SEEN", "CHANGED", "NOW"}, right: map[int]bool{1: true}}
				for _, r := range rows {
					what, now := "message", r.ErrorMessage
					if !r.MessageChanged {
						what, now = "url", r.ErrorURL
					} else if r.URLChanged {
						what = "message+url"
					}
					t.rows = append(t.rows, []string{r.ErrorType, u(r.Count), a.fmtTime(r.FirstSeen), a.fmtTime(r.LastSeen), what, cut(now, 70)})
				}
				a.writeTable(t)
				fmt.Fprintln(a.stdout, "\n`query drift --overrides` prints the entries for the overrides file.")
			}
			a.warnTruncated(truncated)
			return nil
		},
	}
	cmd.Flags().Uint64Var(&minCount, "min-count", 5, "fewest events with the new text to list it (one-offs are typos, not docs changes)")
	cmd.Flags().BoolVar(&overrides, "overrides", false, "print override entries (YAML for catalog.overrides) instead of the list")
	return cmd
}

func (a *app) incidentCmd() *cobra.Command {
	p := query.DefaultSpikeParams()
	var orgs int
	var grafana, runbook string
	cmd := &cobra.Command{
		Use:         "incident",
		Short:       "One screen for the on-call: current spikes with remediation, orgs and environments hit, trend, links",
		Annotations: map[string]string{formatMarkdown: "yes"},
		Long: `incident summarizes the window --since (default 30m) up to --until (default now), cut
to whole minutes: the spikes in it, judged as by spikes with the window as its --window
(see spikes --help for the method; a window over 24h - --baseline gets a shorter recent
baseline, one of 24h or more the preceding period of its own length and no time-of-day
baseline, and the summary says so), each with its remediation, actor, first and last event
and docs; then, for the spiking types (or all types when nothing spikes), the organizations
and environments most affected and the trend per minute-or-larger bucket; then the Grafana
dashboard links (--grafana-url) and the runbook (--runbook-url). --format markdown gives the
same for pasting into an incident channel; json has every number.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.prepare(cmd, "30m")
			if err != nil {
				return err
			}
			if _, err := url.ParseRequestURI(grafana); err != nil {
				return fmt.Errorf("--grafana-url %q: %w", grafana, err)
			}
			inc, err := a.client.Incident(ctxOf(cmd), f, p, orgs)
			if err != nil {
				return err
			}
			switch a.format {
			case "json":
				return a.writeJSON(inc)
			case "csv":
				var rows [][]string
				for _, s := range inc.Spikes {
					rows = append(rows, []string{s.ErrorType, u(s.Observed), fl(s.Expected), fl(s.Ratio), fl(s.PValue), s.Basis,
						s.FirstSeen.Format(time.RFC3339), s.LastSeen.Format(time.RFC3339), s.Category, s.Actor, s.Remediation, s.DocsURL})
				}
				return a.writeCSV([]string{"error_type", "observed", "expected", "ratio", "p_value", "basis", "first_seen", "last_seen",
					"category", "actor", "remediation", "docs_url"}, rows)
			case formatMarkdown:
				a.incidentMarkdown(inc, grafana, runbook)
				return nil
			}
			a.incidentTable(inc, grafana, runbook)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.Uint64Var(&p.MinCount, "min-count", p.MinCount, "fewest events in the window that can be a spike")
	fs.Float64Var(&p.MinRatio, "min-ratio", p.MinRatio, "smallest observed/expected that can be a spike")
	fs.DurationVar(&p.Preceding, "baseline", p.Preceding, "baseline period just before the window")
	fs.IntVar(&p.Days, "days", p.Days, "previous days whose same window joins the baseline")
	fs.IntVar(&orgs, "orgs", 5, "how many organizations to list")
	fs.StringVar(&grafana, "grafana-url", "http://127.0.0.1:3000", "Grafana base URL for dashboard links")
	fs.StringVar(&runbook, "runbook-url", "", "runbook link to print (e.g. your team's on-call page)")
	return cmd
}

// incidentView is the incident's text, shared by the table and markdown renderings.
type incidentView struct {
	title, scope string
	links        [][2]string // label, URL
}

func (a *app) incidentView(inc *query.Incident, grafana, runbook string) incidentView {
	v := incidentView{title: fmt.Sprintf("Incident summary %s (%s)", a.window(query.Filter{Since: inc.Since, Until: inc.Until}), inc.Until.Sub(inc.Since))}
	if inc.Baseline == 0 {
		v.scope = fmt.Sprintf("Spikes cannot be judged: no events at all in the baseline periods before the window. Below: all %d events of the window.", inc.Total)
	} else if len(inc.Spikes) == 0 {
		v.scope = fmt.Sprintf("No spikes (judged against %s of baseline); below: all %d events of the window.", inc.Baseline, inc.Total)
	} else {
		v.scope = fmt.Sprintf("%d spike(s) (judged against %s of baseline); below: their %d events.", len(inc.Spikes), inc.Baseline, inc.Total)
	}
	if inc.BaselineNote != "" {
		v.scope += " Baseline: " + inc.BaselineNote + "."
	}
	base := strings.TrimRight(grafana, "/")
	v.links = append(v.links, [2]string{"Overview dashboard", base + "/d/faultline-overview/faultline-overview"})
	for _, s := range inc.Spikes {
		v.links = append(v.links, [2]string{s.ErrorType + " dashboard", base + "/d/faultline-error-type/faultline-error-type?var-error_type=" + url.QueryEscape(s.ErrorType)})
	}
	if runbook != "" {
		v.links = append(v.links, [2]string{"Runbook", runbook})
	} else {
		v.links = append(v.links, [2]string{"Runbook", "none configured (--runbook-url); each spike's docs link is the upstream page"})
	}
	return v
}

func (a *app) incidentTable(inc *query.Incident, grafana, runbook string) {
	v := a.incidentView(inc, grafana, runbook)
	fmt.Fprintln(a.stdout, a.paint(ansiBold, v.title))
	fmt.Fprintln(a.stdout, v.scope)
	if inc.Total == 0 {
		fmt.Fprintln(a.stdout, "no events in the window")
	}
	if len(inc.Spikes) > 0 {
		fmt.Fprintln(a.stdout)
		t := table{header: []string{"SPIKE", "OBSERVED", "EXPECTED", "RATIO", "BASIS", "FIRST SEEN", "ACTOR"}, right: map[int]bool{1: true, 2: true, 3: true}}
		for _, s := range inc.Spikes {
			t.rows = append(t.rows, []string{s.ErrorType, u(s.Observed), f2(s.Expected), f2(s.Ratio) + "x", s.Basis, a.fmtTime(s.FirstSeen), s.Actor})
		}
		t.paint = func(_, col int) string {
			if col == 0 {
				return ansiRed
			}
			return ""
		}
		a.writeTable(t)
		for _, s := range inc.Spikes {
			rem, docs := s.Remediation, s.DocsURL
			if rem == "" {
				rem, docs = "not in the catalog: see `query unknown --drafts`", "-"
			}
			fmt.Fprintf(a.stdout, "\n%s (%s, fixed by %s)\n  what to do: %s\n  docs: %s\n", a.paint(ansiBold, s.ErrorType), s.Category, s.Actor, rem, docs)
		}
	}
	if len(inc.Orgs) > 0 {
		fmt.Fprintln(a.stdout)
		a.orgsTable(inc.Orgs)
	}
	if len(inc.Envs) > 0 {
		fmt.Fprintln(a.stdout)
		t := table{header: []string{"ENVIRONMENT", "COUNT", "SHARE"}, right: map[int]bool{1: true, 2: true}}
		for _, e := range inc.Envs {
			t.rows = append(t.rows, []string{e.Environment, u(e.Count), pct(e.Share)})
		}
		a.writeTable(t)
	}
	if inc.Trend != nil {
		fmt.Fprintln(a.stdout)
		t := table{header: []string{"TREND", "TOTAL", "CHART"}, right: map[int]bool{1: true}}
		for _, s := range append([]query.Series{inc.Trend.All}, inc.Trend.Types...) {
			name := s.ErrorType
			if name == "" {
				name = "all in scope"
			}
			d, _ := downsample(s.Counts, 60)
			t.rows = append(t.rows, []string{name, u(s.Total), sparkline(d)})
		}
		a.writeTable(t)
		fmt.Fprintf(a.stdout, "%s %s buckets from %s\n", a.paint(ansiDim, "chart:"), inc.Trend.Bucket, a.fmtTime(inc.Trend.Since))
	}
	fmt.Fprintln(a.stdout)
	a.kv(v.links)
	a.warnTruncated(inc.OrgsCut)
}

// incidentMarkdown writes the summary as Markdown for an incident channel. Every value from
// the data or the flags goes through md, so a message cannot inject formatting, links or
// control characters.
func (a *app) incidentMarkdown(inc *query.Incident, grafana, runbook string) {
	v := a.incidentView(inc, grafana, runbook)
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n%s\n", md(v.title), md(v.scope))
	if len(inc.Spikes) > 0 {
		b.WriteString("\n| spike | observed | expected | ratio | basis | first seen | actor | what to do |\n|---|---:|---:|---:|---|---|---|---|\n")
		for _, s := range inc.Spikes {
			rem := s.Remediation
			if rem == "" {
				rem = "not in the catalog"
			}
			// Error types are ^[a-z0-9_]+$ (the checker rejects others): safe in a code span.
			fmt.Fprintf(&b, "| `%s` | %d | %s | %sx | %s | %s | %s | %s |\n", s.ErrorType, s.Observed, f2(s.Expected), f2(s.Ratio),
				md(s.Basis), md(a.fmtTime(s.FirstSeen)), md(s.Actor), md(rem))
		}
	}
	if len(inc.Orgs) > 0 {
		b.WriteString("\n**Organizations most affected**\n\n| organization | events | share |\n|---|---:|---:|\n")
		for _, o := range inc.Orgs {
			fmt.Fprintf(&b, "| %s | %d | %s |\n", md(o.OrganizationID), o.Count, pct(o.Share))
		}
	}
	if len(inc.Envs) > 0 {
		b.WriteString("\n**Environments**: ")
		for i, e := range inc.Envs {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s %d (%s)", md(e.Environment), e.Count, pct(e.Share))
		}
		b.WriteString("\n")
	}
	if inc.Trend != nil {
		fmt.Fprintf(&b, "\n**Trend** (%s buckets)\n\n```\n", inc.Trend.Bucket)
		for _, s := range append([]query.Series{inc.Trend.All}, inc.Trend.Types...) {
			name := s.ErrorType
			if name == "" {
				name = "all in scope"
			}
			d, _ := downsample(s.Counts, 60)
			fmt.Fprintf(&b, "%-28s %6d %s\n", name, s.Total, sparkline(d)) // error types are [a-z0-9_]
		}
		b.WriteString("```\n")
	}
	b.WriteString("\n**Links**\n\n")
	for _, l := range v.links {
		if strings.HasPrefix(l[1], "http://") || strings.HasPrefix(l[1], "https://") {
			fmt.Fprintf(&b, "- [%s](<%s>)\n", md(l[0]), mdURL(l[1]))
		} else {
			fmt.Fprintf(&b, "- %s: %s\n", md(l[0]), md(l[1]))
		}
	}
	for _, s := range inc.Spikes {
		if s.DocsURL != "" {
			fmt.Fprintf(&b, "- [%s docs](<%s>)\n", md(s.ErrorType), mdURL(s.DocsURL))
		}
	}
	fmt.Fprint(a.stdout, b.String())
}

// mdSpecial are the characters Markdown (CommonMark and chat dialects) gives a meaning.
var mdSpecial = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "<", `\<`, ">", `\>`,
	"|", `\|`, "#", `\#`, "~", `\~`, "@", `\@`, "!", `\!`)

// md makes s inert Markdown text on one line: special characters escaped, control and
// invisible formatting characters (which could rewrite the terminal or the line) shown as
// \uXXXX.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		if visibleRune(r) {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return mdSpecial.Replace(b.String())
}

// mdURL keeps a URL inside <...>: only characters that would end or break it are encoded.
func mdURL(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !visibleRune(r) || r == '<' || r == '>' || r == ' ' || r == '\\' {
			b.WriteString(url.PathEscape(string(r)))
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func visibleRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0: // C0, DEL, C1 (ESC, CSI)
		return false
	case r == 0x2028 || r == 0x2029 || (r >= 0x200b && r <= 0x200f) || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0xfeff:
		return false // line separators, zero-width and bidi controls
	}
	return true
}
