package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/query"
)

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
