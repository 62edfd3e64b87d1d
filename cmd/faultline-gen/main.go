// Command faultline-gen writes faultline's generated deploy artefacts: the Prometheus rules
// (from the error catalog and its overrides) and the Grafana dashboards.
//
//	faultline-gen rules [-catalog FILE (default: embedded)] [-overrides FILE] [-out deploy/prometheus/rules/faultline.rules.yml]
//	faultline-gen dashboards [-out dashboards/json]
//	faultline-gen kubernetes [-catalog FILE] [-overrides FILE] [-datasources FILE] [-out deploy/kubernetes/base]
//
// `go generate ./alerting ./dashboards ./manifests` runs it with the repository's paths.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/faultline/faultline/alerting"
	"github.com/faultline/faultline/dashboards"
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
	switch args[0] {
	case "rules":
		fs := flag.NewFlagSet("rules", flag.ContinueOnError)
		base := fs.String("catalog", "", "base catalog JSON (default: the catalog embedded in the binary)")
		overrides := fs.String("overrides", "", "catalog overrides YAML (optional)")
		out := fs.String("out", "deploy/prometheus/rules/faultline.rules.yml", "rule file to write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := schema.LoadCatalog(*base, *overrides)
		if err != nil {
			return err
		}
		b, err := alerting.Marshal(alerting.Generate(c), c.Version())
		if err != nil {
			return err
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
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := schema.LoadCatalog(*base, *overrides)
		if err != nil {
			return err
		}
		rule, err := manifests.PrometheusRule(alerting.Generate(c), c.Version())
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

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
