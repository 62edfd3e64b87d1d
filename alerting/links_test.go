package alerting_test

import (
	"strings"
	"testing"

	"github.com/faultline/faultline/alerting"
	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/dashboards"
)

// TestDashboardLinksNameRealDashboards: every alert's dashboard link opens one of the
// dashboards this repository provisions (by UID), so a renamed dashboard breaks this test,
// not the on-call engineer's link.
func TestDashboardLinksNameRealDashboards(t *testing.T) {
	c, err := catalog.Load("../schema/catalog.json", "")
	if err != nil {
		t.Fatal(err)
	}
	uids := []string{dashboards.OverviewUID, dashboards.ErrorTypeUID, dashboards.PipelineUID}
	for _, g := range alerting.Build(c, alerting.DefaultOptions()).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			link := r.Annotations["dashboard"]
			ok := false
			for _, uid := range uids {
				ok = ok || strings.HasPrefix(link, alerting.DefaultGrafanaURL+"/d/"+uid+"/")
			}
			if !ok {
				t.Errorf("%s links %q, not one of the dashboards %v", r.Alert, link, uids)
			}
		}
	}
}
