package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/query"
)

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
