package dashboards

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestProvisioning checks deploy/grafana against the dashboards: the datasource UIDs and types
// the panels reference, the read-only ClickHouse user, a password that comes from the
// environment, and a dashboard provider.
func TestProvisioning(t *testing.T) {
	raw, err := os.ReadFile("../deploy/grafana/provisioning/datasources/faultline.yml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			UID            string            `yaml:"uid"`
			Type           string            `yaml:"type"`
			URL            string            `yaml:"url"`
			JSONData       map[string]any    `yaml:"jsonData"`
			SecureJSONData map[string]string `yaml:"secureJsonData"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(raw, &ds); err != nil {
		t.Fatal(err)
	}
	byUID := map[string]string{}
	for _, d := range ds.Datasources {
		byUID[d.UID] = d.Type
		if d.Type == ClickHouseType {
			if d.JSONData["username"] != "faultline_ro" {
				t.Errorf("ClickHouse datasource user %v, want faultline_ro", d.JSONData["username"])
			}
			if p := d.SecureJSONData["password"]; !strings.HasPrefix(p, "${") {
				t.Errorf("ClickHouse password %q must come from the environment (${VAR})", p)
			}
		}
	}
	if ds.APIVersion != 1 || byUID[PrometheusUID] != "prometheus" || byUID[ClickHouseUID] != ClickHouseType {
		t.Errorf("datasources %v (apiVersion %d): want %s=prometheus and %s=%s", byUID, ds.APIVersion, PrometheusUID, ClickHouseUID, ClickHouseType)
	}

	raw, err = os.ReadFile("../deploy/grafana/provisioning/dashboards/faultline.yml")
	if err != nil {
		t.Fatal(err)
	}
	var prov struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string         `yaml:"type"`
			Options map[string]any `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(raw, &prov); err != nil {
		t.Fatal(err)
	}
	if prov.APIVersion != 1 || len(prov.Providers) != 1 || prov.Providers[0].Type != "file" || prov.Providers[0].Options["path"] == nil {
		t.Errorf("dashboard provider: %+v", prov)
	}
}
