package pipeline

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/metrics"
)

// A flood of random error types with random status codes in every environment keeps
// faultline_events_total under metrics.MaxEventSeries (slot reclaim is tested in metrics).
func TestEventSeriesStayBoundedUnderAFlood(t *testing.T) {
	cat := mustCatalog(t)
	const maxUnknown = 50
	m := newCommitMetrics(prometheus.NewRegistry(), MetricsConfig{CatalogTypes: metrics.CatalogTypes(cat), MaxUnknownErrorTypes: maxUnknown})
	in := &Ingester{commitM: m, flags: event.AllFlags()}
	checker := event.NewChecker(cat, event.Options{})
	r := rand.New(rand.NewPCG(8, 8))
	envs := []string{"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141", "request-id-test-b05c992f-ebdc-489d-a754-c7e70ba13141", "junk"}
	known := cat.Entries()
	mk := func(typ string, status int) *Row {
		row, ct := newRow("t", nil, kafka.Message{Time: time.Now(), Value: []byte(`{"status_code":` + strconv.Itoa(status) + `,"error_type":"` + typ + `","request_id":"` + envs[r.IntN(3)] + `"}`)}, time.Now())
		checkRow(checker, row, ct, ct)
		if !row.Accepted {
			t.Fatalf("rejected %s", row.Detail)
		}
		return row
	}
	for round := 0; round < 20; round++ {
		var rows []*Row
		for i := 0; i < 2000; i++ {
			typ := "junk_" + strconv.Itoa(r.IntN(1_000_000))
			if r.IntN(3) == 0 {
				typ = known[r.IntN(len(known))].ErrorType
			}
			rows = append(rows, mk(typ, 100+r.IntN(500)))
		}
		in.account(resultOf(rows))
	}
	bound := metrics.MaxEventSeries(cat.Len(), maxUnknown)
	n := testutil.CollectAndCount(m.Events)
	t.Logf("%d series after 40000 events of random types and codes; bound %d", n, bound)
	if n > bound {
		t.Fatalf("faultline_events_total has %d series, bound %d", n, bound)
	}
	if got := testutil.ToFloat64(m.Events.WithLabelValues(metrics.OtherUnknown, event.Unknown, "live", "4xx")); got == 0 {
		t.Fatal("the flood did not overflow into _other_unknown")
	}
}
