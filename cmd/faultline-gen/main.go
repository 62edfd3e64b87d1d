// Command faultline-gen writes faultline's generated deploy artefacts: the Prometheus rules
// (from the error catalog and its overrides) and the Grafana dashboards.
//
//	faultline-gen rules [-catalog FILE (default: embedded)] [-overrides FILE] [-config FILE] [-out deploy/prometheus/rules/faultline.rules.yml] [-runbooks docs/runbooks]
//	faultline-gen dashboards [-out dashboards/json]
//	faultline-gen kubernetes [-catalog FILE] [-overrides FILE] [-config FILE] [-datasources FILE] [-out deploy/kubernetes/base]
//
// `go generate ./alerting ./dashboards ./manifests` runs it with the repository's paths.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/faultline/faultline/alerting"
	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/dashboards"
	"github.com/faultline/faultline/internal/buildinfo"
	"github.com/faultline/faultline/manifests"
	"github.com/faultline/faultline/schema"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "faultline-gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: faultline-gen rules|dashboards|kubernetes [flags]")
	}
	if args[0] == "--version" || args[0] == "-version" {
		fmt.Println(buildinfo.Get().String("faultline-gen"))
		return nil
	}
	switch args[0] {
	case "rules":
		fs := flag.NewFlagSet("rules", flag.ContinueOnError)
		base := fs.String("catalog", "", "base catalog JSON (default: the catalog embedded in the binary)")
		overrides := fs.String("overrides", "", "catalog overrides YAML (optional)")
		out := fs.String("out", "deploy/prometheus/rules/faultline.rules.yml", "rule file to write")
		runbooks := fs.String("runbooks", "", "directory for the generated runbooks of the dedicated alerts, e.g. "+alerting.RunbookDir+" (empty: none)")
		cfgPath := fs.String("config", "", "config file whose alerts.* keys set severities and links (default: built-in defaults and FAULTLINE_ALERTS_* environment)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, rules, err := buildRules(*base, *overrides, *cfgPath)
		if err != nil {
			return err
		}
		b, err := alerting.Marshal(rules, c.Version())
		if err != nil {
			return err
		}
		if *runbooks != "" {
			books, err := alerting.DedicatedRunbooks(c)
			if err != nil {
				return err
			}
			for name, rb := range books {
				if err := writeFile(filepath.Join(*runbooks, name), rb); err != nil {
					return err
				}
			}
		}
		return writeFile(*out, b)
	case "dashboards":
		fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
		out := fs.String("out", "dashboards/json", "directory for the dashboard JSON files")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		files, err := dashboards.Render()
		if err != nil {
			return err
		}
		for name, b := range files {
			if err := writeFile(filepath.Join(*out, name), b); err != nil {
				return err
			}
		}
		return nil
	case "kubernetes":
		// The PrometheusRule and the dashboard ConfigMaps of deploy/kubernetes, from the same
		// rules and dashboards as the two commands above.
		fs := flag.NewFlagSet("kubernetes", flag.ContinueOnError)
		base := fs.String("catalog", "", "base catalog JSON (default: the catalog embedded in the binary)")
		overrides := fs.String("overrides", "", "catalog overrides YAML (optional)")
		datasources := fs.String("datasources", "deploy/grafana/provisioning/datasources/faultline.yml", "Grafana datasources provisioning file")
		out := fs.String("out", "deploy/kubernetes/base", "directory for prometheusrule.yaml, dashboards.yaml and datasources.yaml")
		cfgPath := fs.String("config", "", "config file whose alerts.* keys set severities and links (as for rules)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, rules, err := buildRules(*base, *overrides, *cfgPath)
		if err != nil {
			return err
		}
		rule, err := manifests.PrometheusRule(rules, c.Version())
		if err != nil {
			return err
		}
		files, err := dashboards.Render()
		if err != nil {
			return err
		}
		cms, err := manifests.DashboardConfigMaps(files)
		if err != nil {
			return err
		}
		provisioning, err := os.ReadFile(*datasources)
		if err != nil {
			return fmt.Errorf("-datasources: %w", err)
		}
		ds, err := manifests.DatasourcesConfigMap(provisioning)
		if err != nil {
			return fmt.Errorf("-datasources %s: %w", *datasources, err)
		}
		for name, b := range map[string][]byte{manifests.PrometheusRuleFile: rule, manifests.DashboardsFile: cms, manifests.DatasourcesFile: ds} {
			if err := writeFile(filepath.Join(*out, name), b); err != nil {
				return err
			}
		}
		return nil
	default:
		return fmt.Errorf("unknown command %q: want rules, dashboards or kubernetes", args[0])
	}
}

// buildRules loads the catalog and the alerts section of the config at cfgPath (defaults and
// FAULTLINE_ALERTS_* when empty) and builds the rules, so that the rule file and the
// PrometheusRule are made alike.
func buildRules(base, overrides, cfgPath string) (*catalog.Catalog, alerting.RuleFile, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, alerting.RuleFile{}, err
	}
	opts := alerting.Options{SeverityPage: cfg.Alerts.SeverityPage, SeverityTicket: cfg.Alerts.SeverityTicket,
		RunbookURL: cfg.Alerts.RunbookURL, GrafanaURL: cfg.Alerts.GrafanaURL, IngestJob: cfg.Alerts.IngestJob}
	if err := opts.Validate(); err != nil {
		return nil, alerting.RuleFile{}, err
	}
	c, err := schema.LoadCatalog(base, overrides)
	if err != nil {
		return nil, alerting.RuleFile{}, err
	}
	return c, alerting.Build(c, opts), nil
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
