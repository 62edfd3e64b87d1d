package alerting

import (
	"os/exec"
	"testing"
)

const alertmanagerConfig = "../deploy/alertmanager/alertmanager.yml"

func amtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("amtool")
	if err != nil {
		t.Fatalf("amtool not found (%v): run `make deps` (installs prometheus-alertmanager with amtool)", err)
	}
	return p
}

func TestAlertmanagerConfigChecks(t *testing.T) {
	out, err := exec.Command(amtool(t), "check-config", alertmanagerConfig).CombinedOutput()
	if err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
}

// TestAlertmanagerRoutes routes every generated alert, with its own labels, and checks it
// reaches the receiver of its severity; unlabelled alerts fall back to tickets.
func TestAlertmanagerRoutes(t *testing.T) {
	receiver := map[string]string{DefaultSeverityPage: "faultline-page", DefaultSeverityTicket: "faultline-ticket"}
	type routeCase struct {
		name   string
		labels []string
		want   string
	}
	cases := []routeCase{
		{"no severity", []string{"alertname=Other"}, "faultline-ticket"},
		{"unknown severity", []string{"alertname=Other", "severity=page"}, "faultline-ticket"},
	}
	for _, g := range Build(loadCatalog(t, ""), DefaultOptions()).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			sev := r.Labels["severity"]
			want, ok := receiver[sev]
			if !ok {
				t.Fatalf("alert %s has severity %q with no receiver", r.Alert, sev)
			}
			cases = append(cases, routeCase{r.Alert, []string{"alertname=" + r.Alert, "severity=" + sev, "team=faultline"}, want})
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + alertmanagerConfig, "--verify.receivers=" + c.want}, c.labels...)
			out, err := exec.Command(amtool(t), args...).CombinedOutput()
			if err != nil {
				t.Fatalf("amtool %v: %v\n%s", args, err, out)
			}
		})
	}
}
