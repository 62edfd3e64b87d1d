package manifests

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/faultline/faultline/alerting"
)

func TestDashboardConfigMaps(t *testing.T) {
	cases := []struct {
		name    string
		files   map[string][]byte
		wantErr string
		want    []string // ConfigMap names in order
	}{
		{"two dashboards in name order", map[string][]byte{"b.json": []byte("{}\n"), "a.json": []byte(`{"x":1}`)}, "", []string{"faultline-dashboard-a", "faultline-dashboard-b"}},
		{"not json", map[string][]byte{"a.yaml": nil}, `"a.yaml"`, nil},
		{"none", map[string][]byte{}, "no dashboards", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := DashboardConfigMaps(tc.files)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			dec := yaml.NewDecoder(strings.NewReader(string(b)))
			var names []string
			for {
				var o object
				if err := dec.Decode(&o); err != nil {
					break
				}
				if o.Kind != "ConfigMap" || o.Metadata.Labels[DashboardLabel] != "1" || o.Metadata.Annotations[FolderAnnotation] != Name {
					t.Errorf("%s: kind %s, labels %v, annotations %v", o.Metadata.Name, o.Kind, o.Metadata.Labels, o.Metadata.Annotations)
				}
				for file, data := range o.Data {
					if data != string(tc.files[file]) {
						t.Errorf("%s: %s = %q, want %q", o.Metadata.Name, file, data, tc.files[file])
					}
				}
				names = append(names, o.Metadata.Name)
			}
			if strings.Join(names, ",") != strings.Join(tc.want, ",") {
				t.Errorf("ConfigMaps %v, want %v", names, tc.want)
			}
		})
	}
}

func TestPrometheusRuleHoldsTheGroups(t *testing.T) {
	rules := alerting.RuleFile{Groups: []alerting.Group{{Name: "g", Rules: []alerting.Rule{{Alert: "A", Expr: "up == 0\n", For: "5m", Labels: map[string]string{"severity": "page"}}}}}}
	b, err := PrometheusRule(rules, "c1-test")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "c1-test") {
		t.Error("header does not name the catalog version")
	}
	var o struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Spec       alerting.RuleFile `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if o.APIVersion != "monitoring.coreos.com/v1" || o.Kind != "PrometheusRule" {
		t.Errorf("%s %s", o.APIVersion, o.Kind)
	}
	if len(o.Spec.Groups) != 1 || o.Spec.Groups[0].Rules[0].Expr != "up == 0\n" || o.Spec.Groups[0].Rules[0].Labels["severity"] != "page" {
		t.Errorf("spec %+v does not hold the groups", o.Spec)
	}
}

func TestDatasourcesConfigMap(t *testing.T) {
	good := []byte("apiVersion: 1\ndatasources:\n  - name: p\n    uid: faultline-prometheus\n    url: ${FAULTLINE_PROMETHEUS_URL}\n")
	b, err := DatasourcesConfigMap(good)
	if err != nil {
		t.Fatal(err)
	}
	var o object
	if err := yaml.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if o.Metadata.Labels[DatasourceLabel] != "1" || o.Data[DatasourcesName] != string(good) {
		t.Errorf("ConfigMap %+v", o)
	}
	for _, bad := range []string{"", "datasources: []\n", "{{{"} {
		if _, err := DatasourcesConfigMap([]byte(bad)); err == nil {
			t.Errorf("DatasourcesConfigMap(%q) accepted", bad)
		}
	}
}
