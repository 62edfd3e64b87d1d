// Command faultline-gen writes faultline's generated deploy artefacts: the Prometheus rules
// (from the error catalog and its overrides) and the Grafana dashboards.
//
//	faultline-gen rules [-catalog schema/catalog.json] [-overrides FILE] [-config FILE] [-out deploy/prometheus/rules/faultline.rules.yml] [-runbooks docs/runbooks]
//	faultline-gen dashboards [-out dashboards/json]
//
// `go generate ./alerting ./dashboards` runs it with the repository's paths.
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
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "faultline-gen:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: faultline-gen rules|dashboards [flags]")
	}
	if args[0] == "--version" || args[0] == "-version" {
		fmt.Println(buildinfo.Get().String("faultline-gen"))
		return nil
	}
	switch args[0] {
	case "rules":
		fs := flag.NewFlagSet("rules", flag.ContinueOnError)
		base := fs.String("catalog", "schema/catalog.json", "base catalog JSON")
		overrides := fs.String("overrides", "", "catalog overrides YAML (optional)")
		out := fs.String("out", "deploy/prometheus/rules/faultline.rules.yml", "rule file to write")
		runbooks := fs.String("runbooks", alerting.RunbookDir, "directory for the generated runbooks of the dedicated alerts (empty: none)")
		cfgPath := fs.String("config", "", "config file whose alerts.* keys set severities and links (default: built-in defaults and FAULTLINE_ALERTS_* environment)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		opts := alerting.Options{SeverityPage: cfg.Alerts.SeverityPage, SeverityTicket: cfg.Alerts.SeverityTicket,
			RunbookURL: cfg.Alerts.RunbookURL, GrafanaURL: cfg.Alerts.GrafanaURL, IngestJob: cfg.Alerts.IngestJob}
		if err := opts.Validate(); err != nil {
			return err
		}
		c, err := catalog.Load(*base, *overrides)
		if err != nil {
			return err
		}
		b, err := alerting.Marshal(alerting.Build(c, opts), c.Version())
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
	default:
		return fmt.Errorf("unknown command %q: want rules or dashboards", args[0])
	}
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
