package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/query"
)

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
