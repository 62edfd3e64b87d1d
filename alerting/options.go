package alerting

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/faultline/faultline/catalog"
)

// Options are what a deployment sets around the catalog's rules: severity label values, where
// the runbooks and the Grafana dashboards are, and the Prometheus job of the ingesters.
type Options struct {
	// SeverityPage and SeverityTicket are the severity label values of the catalog's "page"
	// and "ticket" alerts; kube-prometheus routes "critical" and "warning".
	SeverityPage, SeverityTicket string
	// RunbookURL is the base of the runbook links: runbook_url is RunbookURL/<alert>.md.
	RunbookURL string
	// GrafanaURL is the base of the dashboard links (scheme and host, optionally a sub-path).
	GrafanaURL string
	// IngestJob is the scrape job of the ingesters, watched by FaultlineIngesterDown.
	IngestJob string
}

// Defaults of Options, the values of config.yaml's alerts section.
const (
	DefaultSeverityPage   = "critical"
	DefaultSeverityTicket = "warning"
	DefaultRunbookURL     = "https://github.com/faultline/faultline/blob/main/docs/runbooks"
	DefaultGrafanaURL     = "http://127.0.0.1:3000"
	DefaultIngestJob      = "faultline-ingest"
	IngesterDownAlert     = "FaultlineIngesterDown"
	// RunbookDir is where the runbooks live in the repository.
	RunbookDir           = "docs/runbooks"
	pipelineDashboard    = "/d/faultline-pipeline/faultline-pipeline"
	overviewDashboard    = "/d/faultline-overview/faultline-overview"
	dashboardAnnotation  = "dashboard"
	runbookURLAnnotation = "runbook_url"
)

// DefaultOptions are the Options of the committed rule file.
func DefaultOptions() Options {
	return Options{SeverityPage: DefaultSeverityPage, SeverityTicket: DefaultSeverityTicket,
		RunbookURL: DefaultRunbookURL, GrafanaURL: DefaultGrafanaURL, IngestJob: DefaultIngestJob}
}

// Validate reports the first option that cannot make a working rule file.
func (o Options) Validate() error {
	for _, s := range []struct{ name, v string }{{"severity page", o.SeverityPage}, {"severity ticket", o.SeverityTicket}, {"ingest job", o.IngestJob}} {
		if strings.TrimSpace(s.v) == "" || strings.ContainsAny(s.v, "\"\\\n{}") {
			return fmt.Errorf("alerting: %s %q: want a plain label value", s.name, s.v)
		}
	}
	for _, s := range []struct{ name, v string }{{"runbook url", o.RunbookURL}, {"grafana url", o.GrafanaURL}} {
		u, err := url.Parse(s.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("alerting: %s %q: want an absolute http(s) URL", s.name, s.v)
		}
	}
	return nil
}

// Build is the rule file of a deployment: the catalog's rules plus FaultlineIngesterDown, with
// severities mapped, a runbook_url on every alert and absolute dashboard links.
func Build(c *catalog.Catalog, o Options) RuleFile {
	f := Generate(c)
	for gi := range f.Groups {
		if f.Groups[gi].Name != "faultline.alerts" {
			continue
		}
		f.Groups[gi].Rules = append(f.Groups[gi].Rules, ingesterDown(o))
		for ri := range f.Groups[gi].Rules {
			decorate(&f.Groups[gi].Rules[ri], o)
		}
	}
	return f
}

// ingesterDown fires when a scraped ingester is down and when none is scraped at all: without
// absent(), dead ingesters take their lag and error series with them and nothing else fires.
func ingesterDown(o Options) Rule {
	job := `job="` + o.IngestJob + `"`
	return Rule{
		Alert: IngesterDownAlert,
		Expr: strings.Join([]string{
			"# a target that fails its scrapes, or no target of the job at all",
			"up{" + job + "} == 0",
			"or absent(up{" + job + "})",
		}, "\n"),
		For:    "2m",
		Labels: map[string]string{"severity": catalog.SeverityPage, "team": "faultline"},
		Annotations: map[string]string{
			"summary":           "Ingester {{ with $labels.instance }}{{ . }}{{ else }}(none scraped){{ end }} of job " + o.IngestJob + " is down",
			"description":       "Prometheus cannot scrape the ingester (or scrapes none of job " + o.IngestJob + ") for 2m: no events are stored and the lag, spike and insert alerts cannot fire. Check the process, its /healthz and its log.",
			dashboardAnnotation: pipelineDashboard,
		},
	}
}

// decorate maps the catalog severity to the configured label value, adds runbook_url and makes
// the dashboard link absolute (every alert links a dashboard: Pipeline unless it has its own).
func decorate(r *Rule, o Options) {
	if r.Labels != nil {
		switch r.Labels["severity"] {
		case catalog.SeverityPage:
			r.Labels["severity"] = o.SeverityPage
		case catalog.SeverityTicket:
			r.Labels["severity"] = o.SeverityTicket
		}
	}
	if r.Annotations == nil {
		r.Annotations = map[string]string{}
	}
	r.Annotations[runbookURLAnnotation] = strings.TrimRight(o.RunbookURL, "/") + "/" + r.Alert + ".md"
	path, ok := r.Annotations[dashboardAnnotation]
	if !ok {
		path = pipelineDashboard
		if r.Alert == UnknownTypesAlert {
			path = overviewDashboard
		}
	}
	if strings.HasPrefix(path, "/") {
		r.Annotations[dashboardAnnotation] = strings.TrimRight(o.GrafanaURL, "/") + path
	}
}

// Alerts lists the alert names of f, sorted.
func (f RuleFile) Alerts() []string {
	var out []string
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r.Alert)
			}
		}
	}
	slices.Sort(out)
	return out
}
