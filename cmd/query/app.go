package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline/chconn"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/query"
)

// app holds the global flags and where output goes; one per run.
type app struct {
	stdout, stderr io.Writer
	tty            bool

	configPath string
	format     string
	tz         string
	since      string
	until      string
	env        string
	org        string
	project    string
	category   string
	status     int
	errorType  string

	loc    *time.Location
	client *query.Client
	closer func()
}

// filterFlags are the global filter flags, for rejecting those a command cannot use.
var filterFlags = []string{"env", "org", "project", "category", "status", "error-type"}

func newRoot(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "query",
		Short: "Answers for the engineer on call: top errors, trends, spikes, lookups",
		Long: `query reads faultline's ClickHouse (config clickhouse.*; a read-only user is enough) and
answers what happened, how much, since when, and what to do about it.

Time flags take a duration back from now (90m, 24h, 7d) or a time (RFC 3339, or
"2026-11-28 10:00" in --tz). Every value is sent to ClickHouse as a bound parameter.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPostRun: func(*cobra.Command, []string) {
			if a.closer != nil {
				a.closer()
			}
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "config file (default: built-in defaults and FAULTLINE_* environment)")
	pf.StringVar(&a.format, "format", "table", "output: table, json or csv (incident also markdown)")
	pf.StringVar(&a.tz, "tz", "UTC", "time zone for shown times and for times given without zone (e.g. Europe/Berlin, Local)")
	pf.StringVar(&a.since, "since", "", "start of the window: duration back from now or a time (default depends on the command)")
	pf.StringVar(&a.until, "until", "now", "end of the window (exclusive)")
	pf.StringVar(&a.env, "env", "", "only this environment")
	pf.StringVar(&a.org, "org", "", "only this organization_id")
	pf.StringVar(&a.project, "project", "", "only this project_id")
	pf.StringVar(&a.category, "category", "", "only this catalog category")
	pf.IntVar(&a.status, "status", 0, "only this HTTP status code")
	pf.StringVar(&a.errorType, "error-type", "", "only this error type")

	root.AddCommand(a.topCmd(), a.trendCmd(), a.spikesCmd(), a.showCmd(), a.explainCmd(), a.unknownCmd(), a.quarantineCmd(), a.orgsCmd(),
		a.driftCmd(), a.incidentCmd())
	return root
}

// prepare validates the global flags and connects. defaultSince "" means no time filter
// unless --since is given. It returns the filter.
func (a *app) prepare(cmd *cobra.Command, defaultSince string, unsupported ...string) (query.Filter, error) {
	var f query.Filter
	switch a.format {
	case "table", "json", "csv":
	case formatMarkdown:
		if cmd.Annotations[formatMarkdown] == "" {
			return f, fmt.Errorf("--format markdown only applies to incident")
		}
	default:
		if cmd.Annotations[formatMarkdown] != "" {
			return f, fmt.Errorf("--format %q: want table, json, csv or markdown", a.format)
		}
		return f, fmt.Errorf("--format %q: want table, json or csv", a.format)
	}
	loc, err := time.LoadLocation(a.tz)
	if err != nil {
		return f, fmt.Errorf("--tz %q: %w", a.tz, err)
	}
	a.loc = loc
	for _, name := range unsupported {
		if cmd.Flags().Changed(name) {
			return f, fmt.Errorf("--%s does not apply to %s", name, cmd.Name())
		}
	}
	if a.status != 0 && (a.status < 100 || a.status > 599) {
		return f, fmt.Errorf("--status %d: want an HTTP status code (100-599)", a.status)
	}
	f = query.Filter{Env: a.env, Org: a.org, Project: a.project, Category: a.category, Status: uint16(a.status), ErrorType: a.errorType}

	cfg, err := config.Load(a.configPath)
	if err != nil {
		return f, err
	}
	// Stored times are whole seconds and windows are [since, until): "now" is the end of the
	// current second, so an event stored a moment ago is counted.
	now := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	since := a.since
	if since == "" {
		since = defaultSince
	}
	if since != "" || cmd.Flags().Changed("until") {
		if since == "" {
			since = "30d"
		}
		if f.Since, err = query.ParseTime(since, now, loc); err != nil {
			return f, fmt.Errorf("--since: %w", err)
		}
		if f.Until, err = query.ParseTime(a.until, now, loc); err != nil {
			return f, fmt.Errorf("--until: %w", err)
		}
		if !f.Until.After(f.Since) {
			return f, fmt.Errorf("--until %s is not after --since %s", a.fmtTime(f.Until), a.fmtTime(f.Since))
		}
	}

	// The CLI reads as its own user (query.username, read-only by default), never as the
	// ingester's writer; address, database and TLS are the clickhouse section's.
	ch := cfg.ClickHouse
	ch.Username, ch.Password = cfg.Query.Username, cfg.Query.Password
	conn, err := chconn.Open(cmd.Context(), ch, chconn.Options{Database: ch.Database, Credentials: chconn.QueryCredentials})
	if err != nil {
		return f, err
	}
	a.closer = func() { conn.Close() }
	a.client, err = query.New(query.Native(conn), cfg.ClickHouse.Database, query.Options{MaxRows: cfg.Query.MaxRows, Timeout: cfg.Query.Timeout})
	return f, err
}

func (a *app) fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(a.loc).Format("2006-01-02 15:04:05 MST")
}

func (a *app) window(f query.Filter) string {
	return a.fmtTime(f.Since) + " and " + a.fmtTime(f.Until)
}

// empty says plainly that nothing matched: on stdout for a table, on stderr for json/csv
// (whose stdout stays valid: [] or a bare header).
func (a *app) empty(msg string) {
	if a.format == "table" {
		fmt.Fprintln(a.stdout, msg)
		return
	}
	fmt.Fprintln(a.stderr, msg)
}

func (a *app) warnTruncated(truncated bool) {
	if truncated {
		fmt.Fprintln(a.stderr, "note: more rows than query.max_rows; showing the first ones")
	}
}

func ctxOf(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func pct(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }

func changeStr(c *float64) string {
	if c == nil {
		return "new"
	}
	s := strconv.FormatFloat(*c*100, 'f', 0, 64) + "%"
	if *c > 0 {
		s = "+" + s
	}
	return s
}

func cut(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
