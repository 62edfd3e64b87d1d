package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/query"
)

func u(v uint64) string   { return strconv.FormatUint(v, 10) }
func fl(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
func bs(v bool) string    { return strconv.FormatBool(v) }
func optf(v *float64) string {
	if v == nil {
		return ""
	}
	return fl(*v)
}

func (a *app) topCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Error types in a window: count, share, change against the previous window, remediation",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOut(out); err != nil {
				return err
			}
			f, err := a.prepare(cmd, "24h")
			if err != nil {
				return err
			}
			res, err := a.client.Top(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			if out != "" {
				if err := a.topPicture(out, f, res); err != nil {
					return err
				}
			}
			if a.format == "json" {
				rows := res.Rows
				if rows == nil {
					rows = []query.TopRow{}
				}
				if err := a.writeJSON(rows); err != nil {
					return err
				}
			}
			header := []string{"error_type", "count", "share", "previous_count", "change", "category", "actor", "status_code", "known", "remediation", "docs_url"}
			if a.format == "csv" {
				var rows [][]string
				for _, r := range res.Rows {
					rows = append(rows, []string{r.ErrorType, u(r.Count), fl(r.Share), u(r.PreviousCount), optf(r.Change), r.Category, r.Actor,
						strconv.Itoa(int(r.StatusCode)), bs(r.Known), r.Remediation, r.DocsURL})
				}
				if err := a.writeCSV(header, rows); err != nil {
					return err
				}
			}
			if res.Total == 0 {
				a.empty("no events between " + a.window(f))
				return nil
			}
			if a.format == "table" {
				fmt.Fprintf(a.stdout, "%d events between %s (previous window: %d, %s)\n\n", res.Total, a.window(f), res.PreviousTotal,
					changeStr(changeOf(res.Total, res.PreviousTotal)))
				t := table{header: []string{"ERROR TYPE", "COUNT", "SHARE", "PREV", "CHANGE", "CATEGORY", "ACTOR", "REMEDIATION"},
					right: map[int]bool{1: true, 2: true, 3: true, 4: true}}
				shortened := false
				for _, r := range res.Rows {
					rem := r.Remediation
					if !r.Known {
						rem = "not in the catalog: see `query unknown`"
					}
					name, short := typeLabel(r.ErrorType)
					shortened = shortened || short
					t.rows = append(t.rows, []string{name, u(r.Count), pct(r.Share), u(r.PreviousCount), changeStr(r.Change), r.Category, r.Actor, cut(rem, 70)})
				}
				t.paint = func(i, col int) string {
					if col != 4 {
						return ""
					}
					if c := res.Rows[i].Change; c == nil || *c >= 0.5 {
						return ansiRed
					} else if *c <= -0.5 {
						return ansiGreen
					}
					return ""
				}
				a.writeTable(t)
				if shortened {
					fmt.Fprintf(a.stdout, "\n%s %s\n", a.paint(ansiDim, "note:"), fullNamesHint)
				}
			}
			a.warnTruncated(res.Truncated)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", outFlagHelp)
	return cmd
}

func changeOf(cur, prev uint64) *float64 {
	if prev == 0 {
		return nil
	}
	v := (float64(cur) - float64(prev)) / float64(prev)
	return &v
}

func (a *app) trendCmd() *cobra.Command {
	var types int
	var out string
	cmd := &cobra.Command{
		Use:   "trend",
		Short: "Counts over time per error type, drawn in the terminal",
		Long: `trend counts events per time bucket for everything matching the filters and for the
busiest error types. The bucket follows the range: 1m up to 2h, 5m up to 12h, 15m up to 2d,
1h up to 14d, 1d beyond; the range is widened to whole buckets. Empty buckets are zeros.
--format json|csv gives the data (csv: one row per bucket and series; error_type "" is the total).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOut(out); err != nil {
				return err
			}
			f, err := a.prepare(cmd, "24h")
			if err != nil {
				return err
			}
			res, err := a.client.Trend(ctxOf(cmd), f, types)
			if err != nil {
				return err
			}
			if out != "" {
				if err := a.trendPicture(out, res); err != nil {
					return err
				}
			}
			series := append([]query.Series{res.All}, res.Types...)
			switch a.format {
			case "json":
				type out struct {
					Since         time.Time      `json:"since"`
					Until         time.Time      `json:"until"`
					BucketSeconds int64          `json:"bucket_seconds"`
					Buckets       []time.Time    `json:"buckets"`
					Total         query.Series   `json:"total"`
					Series        []query.Series `json:"series"`
				}
				ts := res.Types
				if ts == nil {
					ts = []query.Series{}
				}
				if err := a.writeJSON(out{res.Since, res.Until, int64(res.Bucket / time.Second), res.Buckets, res.All, ts}); err != nil {
					return err
				}
			case "csv":
				var rows [][]string
				for _, s := range series {
					for i, b := range res.Buckets {
						rows = append(rows, []string{b.Format(time.RFC3339), s.ErrorType, u(s.Counts[i])})
					}
				}
				if err := a.writeCSV([]string{"bucket_start", "error_type", "count"}, rows); err != nil {
					return err
				}
			}
			if res.All.Total == 0 {
				a.empty("no events between " + a.fmtTime(res.Since) + " and " + a.fmtTime(res.Until))
				return nil
			}
			if a.format != "table" {
				return nil
			}
			const width = 96
			fmt.Fprintf(a.stdout, "%d events between %s and %s, %s buckets\n\n", res.All.Total, a.fmtTime(res.Since), a.fmtTime(res.Until), res.Bucket)
			t := table{header: []string{"SERIES", "TOTAL", "PEAK", "CHART"}, right: map[int]bool{1: true, 2: true}}
			var factor int
			shortened := false
			for _, s := range series {
				name, short := typeLabel(s.ErrorType)
				shortened = shortened || short
				if name == "" {
					name = "all"
				}
				var peak uint64
				for _, c := range s.Counts {
					peak = max(peak, c)
				}
				var d []uint64
				d, factor = downsample(s.Counts, width)
				t.rows = append(t.rows, []string{name, u(s.Total), u(peak), sparkline(d)})
			}
			a.writeTable(t)
			fmt.Fprintf(a.stdout, "\n%s %s … %s; one character = %s; peak = most events in one %s bucket\n",
				a.paint(ansiDim, "chart:"), a.fmtTime(res.Since), a.fmtTime(res.Until), res.Bucket*time.Duration(factor), res.Bucket)
			if shortened {
				fmt.Fprintf(a.stdout, "%s %s\n", a.paint(ansiDim, "note:"), fullNamesHint)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&types, "types", 5, "how many of the busiest error types to draw (0-50)")
	cmd.Flags().StringVar(&out, "out", "", outFlagHelp)
	return cmd
}

func (a *app) spikesCmd() *cobra.Command {
	p := query.DefaultSpikeParams()
	cmd := &cobra.Command{
		Use:   "spikes",
		Short: "Error types whose recent rate is significantly above their own baseline",
		Long: "spikes judges the last --window (ending at --until, default now, cut to the minute).\n\n" + query.SpikeMethod + `

Parameters (flags): --window 1h, --baseline 6h (the period before the window; 0 for none),
--days 7 (same window on previous days; 0 for none), --alpha 1e-6, --min-count 20,
--min-ratio 3. --since does not apply. The table's BASIS says which baseline was higher:
recent or time_of_day.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.prepare(cmd, "", "since")
			if err != nil {
				return err
			}
			f.Since = time.Time{}
			res, err := a.client.Spikes(ctxOf(cmd), f, p)
			if err != nil {
				return err
			}
			switch a.format {
			case "json":
				sp := res.Spikes
				if sp == nil {
					sp = []query.Spike{}
				}
				if err := a.writeJSON(sp); err != nil {
					return err
				}
			case "csv":
				var rows [][]string
				for _, s := range res.Spikes {
					rows = append(rows, []string{s.ErrorType, u(s.Observed), fl(s.Expected), fl(s.Ratio), fl(s.PValue), fl(s.Log10P),
						u(s.BaselineCount), fl(s.BaselineHours), s.Category, s.Actor, s.Remediation, s.DocsURL, bs(s.FirstSeenInRange),
						fl(s.ExpectedRecent), fl(s.ExpectedTimeOfDay), s.Basis})
				}
				if err := a.writeCSV([]string{"error_type", "observed", "expected", "ratio", "p_value", "log10_p", "baseline_count",
					"baseline_hours", "category", "actor", "remediation", "docs_url", "new_type", "expected_recent", "expected_time_of_day", "basis"}, rows); err != nil {
					return err
				}
			}
			win := a.fmtTime(res.WindowStart) + " and " + a.fmtTime(res.WindowEnd)
			if res.RecordedBaseline == 0 {
				a.empty("no baseline: no events at all in the " + p.Preceding.String() + " before the window or the same window on previous days; cannot judge " + win)
				return nil
			}
			if len(res.Spikes) == 0 {
				a.empty(fmt.Sprintf("no spikes between %s (%d error types had at least %d events; baseline %s recorded)",
					win, res.Candidates, p.MinCount, res.RecordedBaseline))
				return nil
			}
			if a.format != "table" {
				return nil
			}
			fmt.Fprintf(a.stdout, "%d spike(s) between %s against %s before it and %d previous day(s) at this time (alpha %g, min count %d, min ratio %g)\n\n",
				len(res.Spikes), win, res.RecordedPreceding, res.RecordedDays, p.Alpha, p.MinCount, p.MinRatio)
			t := table{header: []string{"ERROR TYPE", "OBSERVED", "EXPECTED", "RATIO", "P-VALUE", "BASIS", "CATEGORY", "ACTOR"}, right: map[int]bool{1: true, 2: true, 3: true, 4: true}}
			for _, s := range res.Spikes {
				t.rows = append(t.rows, []string{s.ErrorType, u(s.Observed), f2(s.Expected), f2(s.Ratio) + "x", pvalue(s), s.Basis, s.Category, s.Actor})
			}
			t.paint = func(_, col int) string {
				if col == 0 {
					return ansiRed
				}
				return ""
			}
			a.writeTable(t)
			fmt.Fprintln(a.stdout)
			for _, s := range res.Spikes {
				rem, docs := s.Remediation, s.DocsURL
				if rem == "" {
					rem, docs = "not in the catalog: see `query unknown`", "-"
				}
				fmt.Fprintf(a.stdout, "%s\n  what to do: %s\n  docs: %s\n", a.paint(ansiBold, s.ErrorType), rem, docs)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.DurationVar(&p.Window, "window", p.Window, "recent window judged")
	fs.DurationVar(&p.Preceding, "baseline", p.Preceding, "baseline period just before the window")
	fs.IntVar(&p.Days, "days", p.Days, "previous days whose same window joins the baseline")
	fs.Float64Var(&p.Alpha, "alpha", p.Alpha, "significance: fire when the Poisson tail p-value is below this")
	fs.Uint64Var(&p.MinCount, "min-count", p.MinCount, "fewest events in the window that can be a spike")
	fs.Float64Var(&p.MinRatio, "min-ratio", p.MinRatio, "smallest observed/expected that can be a spike")
	return cmd
}

// pvalue prints p, or its order of magnitude when it underflows float64.
func pvalue(s query.Spike) string {
	if s.PValue > 0 {
		return strconv.FormatFloat(s.PValue, 'e', 1, 64)
	}
	return fmt.Sprintf("<1e%d", int(s.Log10P)+1)
}

func (a *app) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "show REQUEST_ID",
		Short: "The stored event(s) of a request, with their catalog entry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.prepare(cmd, "", filterFlags...)
			if err != nil {
				return err
			}
			evs, truncated, err := a.client.Show(ctxOf(cmd), args[0], f)
			if err != nil {
				return err
			}
			switch a.format {
			case "json":
				if evs == nil {
					evs = []query.Event{}
				}
				if err := a.writeJSON(evs); err != nil {
					return err
				}
			case "csv":
				var rows [][]string
				for _, e := range evs {
					rem, docs := "", ""
					if e.Catalog != nil {
						rem, docs = e.Catalog.Remediation, e.Catalog.DocsURL
					}
					rows = append(rows, []string{e.EventTime.Format(time.RFC3339Nano), e.RequestID, e.ErrorType, strconv.Itoa(int(e.StatusCode)),
						e.ErrorMessage, e.Environment, e.OrganizationID, e.ProjectID, e.Method, e.Path, e.Category, e.Actor, rem, docs})
				}
				if err := a.writeCSV([]string{"event_time", "request_id", "error_type", "status_code", "error_message", "environment",
					"organization_id", "project_id", "method", "path", "category", "actor", "remediation", "docs_url"}, rows); err != nil {
					return err
				}
			}
			if len(evs) == 0 {
				a.empty(fmt.Sprintf("no stored event with request_id %q", args[0]))
				return nil
			}
			if a.format == "table" {
				for i, e := range evs {
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					a.kv([][2]string{
						{"request_id", e.RequestID}, {"time", a.fmtTime(e.EventTime) + fmt.Sprintf(" (+%dms)", e.EventTime.Nanosecond()/1e6)},
						{"error_type", e.ErrorType}, {"status", strconv.Itoa(int(e.StatusCode))}, {"message", e.ErrorMessage},
						{"request", e.Method + " " + e.Path}, {"environment", e.Environment}, {"organization", orgLabel(e.OrganizationID)},
						{"project", e.ProjectID}, {"member", e.MemberID}, {"client", e.Client}, {"region", e.Region},
						{"latency_ms", optf(e.LatencyMS)}, {"flags", strings.Join(e.Flags, ", ")}, {"attributes", attrs(e.Attributes)},
						{"catalog_version", e.CatalogVersion}, {"stamped", stampedNote(e)},
					})
					a.catalogBlock(e.Catalog)
				}
			}
			a.warnTruncated(truncated)
			return nil
		},
	}
}

// stampedNote says what the row was stamped with when the current catalog (shown below it)
// now says otherwise; empty when they agree.
func stampedNote(e query.Event) string {
	if e.StampedCategory == e.Category && e.StampedActor == e.Actor {
		return ""
	}
	return "category " + e.StampedCategory + ", actor " + e.StampedActor + " (at catalog_version; the catalog has changed since)"
}

func attrs(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sortStrings(parts)
	return strings.Join(parts, " ")
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func (a *app) kv(pairs [][2]string) {
	w := 0
	for _, p := range pairs {
		w = max(w, len(p[0]))
	}
	for _, p := range pairs {
		if p[1] == "" {
			continue
		}
		fmt.Fprintf(a.stdout, "%s%s  %s\n", a.paint(ansiBold, p[0]), strings.Repeat(" ", w-len(p[0])), clean(p[1]))
	}
}

func (a *app) catalogBlock(e *query.CatalogEntry) {
	if e == nil {
		fmt.Fprintln(a.stdout, a.paint(ansiRed, "not in the catalog")+" (see `query unknown`)")
		return
	}
	a.kv([][2]string{{"category", e.Category}, {"actor", e.Actor}, {"description", e.Description},
		{"remediation", e.Remediation}, {"docs", e.DocsURL}})
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintln(a.stdout, a.paint(ansiBold, title))
		for _, it := range items {
			fmt.Fprintln(a.stdout, "  - "+clean(it))
		}
	}
	list("common causes", e.CommonCauses)
	list("troubleshooting", e.Troubleshooting)
}

func (a *app) explainCmd() *cobra.Command {
	var orgs int
	cmd := &cobra.Command{
		Use:   "explain ERROR_TYPE",
		Short: "The catalog entry of an error type with its recent numbers and most affected organizations",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := a.prepare(cmd, "24h", "error-type")
			if err != nil {
				return err
			}
			ex, err := a.client.Explain(ctxOf(cmd), args[0], f, orgs)
			if err != nil {
				return err
			}
			if ex.Catalog == nil && ex.Count == 0 {
				return fmt.Errorf("error type %q is not in the catalog and has no events between %s", args[0], a.window(f))
			}
			switch a.format {
			case "json":
				return a.writeJSON(ex)
			case "csv":
				return a.orgsCSV(ex.TopOrgs)
			}
			fmt.Fprintln(a.stdout, a.paint(ansiBold, ex.ErrorType))
			a.catalogBlock(ex.Catalog)
			fmt.Fprintf(a.stdout, "\n%d events between %s (previous window: %d, %s)\n", ex.Count, a.window(f), ex.PreviousCount, changeStr(ex.Change))
			if ex.FirstSeen != nil {
				fmt.Fprintf(a.stdout, "first %s, last %s\n", a.fmtTime(*ex.FirstSeen), a.fmtTime(*ex.LastSeen))
			}
			if len(ex.TopOrgs) > 0 {
				fmt.Fprintln(a.stdout)
				a.orgsTable(ex.TopOrgs)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&orgs, "orgs", 10, "how many organizations to list")
	return cmd
}

func (a *app) orgsCSV(rows []query.OrgRow) error {
	var out [][]string
	for _, o := range rows {
		out = append(out, []string{o.OrganizationID, u(o.Count), fl(o.Share), u(o.ErrorTypes), u(o.Projects),
			o.FirstSeen.Format(time.RFC3339), o.LastSeen.Format(time.RFC3339)})
	}
	return a.writeCSV([]string{"organization_id", "count", "share", "error_types", "projects", "first_seen", "last_seen"}, out)
}

func (a *app) orgsTable(rows []query.OrgRow) {
	t := table{header: []string{"ORGANIZATION", "COUNT", "SHARE", "TYPES", "PROJECTS", "FIRST", "LAST"}, right: map[int]bool{1: true, 2: true, 3: true, 4: true}}
	for _, o := range rows {
		t.rows = append(t.rows, []string{orgLabel(o.OrganizationID), u(o.Count), pct(o.Share), u(o.ErrorTypes), u(o.Projects), a.fmtTime(o.FirstSeen), a.fmtTime(o.LastSeen)})
	}
	a.writeTable(t)
}

func (a *app) unknownCmd() *cobra.Command {
	var drafts bool
	cmd := &cobra.Command{
		Use:   "unknown",
		Short: "Error types seen but not in the catalog: first/last seen, count, a sample (default last 7d)",
		Long: `unknown lists error types the ingester did not find in its catalog and that the catalog
table still lacks, busiest first. --drafts prints a draft catalog entry for each instead, as
YAML for the overrides file (config catalog.overrides): the status code and sample message
as seen, a category guessed from the name against the taxonomy (the category whose catalog
types share the most words with it, generic words like "invalid" or "missing" left out;
request_validation when nothing matches) with the reason in a comment, that category's
usual actor, and a remediation marked DRAFT. Review every field before adding them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.prepare(cmd, "7d", "category")
			if err != nil {
				return err
			}
			rows, truncated, err := a.client.Unknown(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			if drafts {
				if a.format != "table" {
					return fmt.Errorf("--drafts prints YAML: --format %s does not apply", a.format)
				}
				if len(rows) == 0 {
					a.empty("no error types outside the catalog between " + a.window(f) + ": no drafts")
					return nil
				}
				known, err := a.client.KnownEntries(ctxOf(cmd))
				if err != nil {
					return err
				}
				y, err := query.UnknownDrafts(rows, known)
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
					rows = []query.UnknownRow{}
				}
				if err := a.writeJSON(rows); err != nil {
					return err
				}
			case "csv":
				var out [][]string
				for _, r := range rows {
					out = append(out, []string{r.ErrorType, r.FirstSeen.Format(time.RFC3339), r.LastSeen.Format(time.RFC3339), u(r.Count),
						strconv.Itoa(int(r.StatusCode)), r.SampleMessage, r.SampleRequest})
				}
				if err := a.writeCSV([]string{"error_type", "first_seen", "last_seen", "count", "status_code", "sample_message", "sample_request_id"}, out); err != nil {
					return err
				}
			}
			if len(rows) == 0 {
				a.empty("no error types outside the catalog between " + a.window(f))
				return nil
			}
			if a.format == "table" {
				t := table{header: []string{"ERROR TYPE", "COUNT", "STATUS", "FIRST SEEN", "LAST SEEN", "SAMPLE MESSAGE"}, right: map[int]bool{1: true, 2: true}}
				for _, r := range rows {
					t.rows = append(t.rows, []string{r.ErrorType, u(r.Count), strconv.Itoa(int(r.StatusCode)), a.fmtTime(r.FirstSeen), a.fmtTime(r.LastSeen), cut(r.SampleMessage, 60)})
				}
				a.writeTable(t)
			}
			a.warnTruncated(truncated)
			return nil
		},
	}
	cmd.Flags().BoolVar(&drafts, "drafts", false, "print draft catalog entries (YAML for catalog.overrides) instead of the list")
	return cmd
}

func (a *app) quarantineCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "quarantine",
		Short: "Rejected messages by reason over a window, with samples",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := a.prepare(cmd, "24h", filterFlags...)
			if err != nil {
				return err
			}
			rows, truncated, err := a.client.Quarantine(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			switch a.format {
			case "json":
				if rows == nil {
					rows = []query.QuarantineRow{}
				}
				if err := a.writeJSON(rows); err != nil {
					return err
				}
			case "csv":
				var out [][]string
				for _, r := range rows {
					out = append(out, []string{r.Reason, u(r.Count), u(r.Bytes), r.FirstSeen.Format(time.RFC3339), r.LastSeen.Format(time.RFC3339),
						r.SampleDetail, strings.Join(r.Samples, "\n")})
				}
				if err := a.writeCSV([]string{"reason", "count", "bytes", "first_seen", "last_seen", "sample_detail", "samples"}, out); err != nil {
					return err
				}
			}
			if len(rows) == 0 {
				a.empty("no quarantined messages between " + a.window(f))
				return nil
			}
			if a.format == "table" {
				t := table{header: []string{"REASON", "COUNT", "BYTES", "FIRST", "LAST", "SAMPLE DETAIL"}, right: map[int]bool{1: true, 2: true}}
				for _, r := range rows {
					t.rows = append(t.rows, []string{r.Reason, u(r.Count), u(r.Bytes), a.fmtTime(r.FirstSeen), a.fmtTime(r.LastSeen), cut(r.SampleDetail, 60)})
				}
				a.writeTable(t)
				for _, r := range rows {
					fmt.Fprintf(a.stdout, "\n%s samples:\n", a.paint(ansiBold, r.Reason))
					for _, s := range r.Samples {
						fmt.Fprintf(a.stdout, "  %q\n", cut(s, 120))
					}
				}
			}
			a.warnTruncated(truncated)
			return nil
		},
	}
}

func (a *app) orgsCmd() *cobra.Command {
	var limit int
	cmd := &cobra.Command{
		Use:   "orgs",
		Short: "Organizations most affected by an error type or category (--error-type or --category)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if a.errorType == "" && a.category == "" {
				return fmt.Errorf("orgs needs --error-type or --category")
			}
			f, err := a.prepare(cmd, "24h")
			if err != nil {
				return err
			}
			res, err := a.client.Orgs(ctxOf(cmd), f, limit)
			if err != nil {
				return err
			}
			switch a.format {
			case "json":
				rows := res.Rows
				if rows == nil {
					rows = []query.OrgRow{}
				}
				if err := a.writeJSON(rows); err != nil {
					return err
				}
			case "csv":
				if err := a.orgsCSV(res.Rows); err != nil {
					return err
				}
			}
			if res.Total == 0 {
				a.empty("no events between " + a.window(f))
				return nil
			}
			if a.format == "table" {
				fmt.Fprintf(a.stdout, "%d events between %s\n\n", res.Total, a.window(f))
				a.orgsTable(res.Rows)
			}
			a.warnTruncated(res.Truncated)
			return nil
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 20, "how many organizations to list")
	return cmd
}
