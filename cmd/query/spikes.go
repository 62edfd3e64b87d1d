package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/query"
)

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
