package pipeline

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/faultline/faultline/event"
	"github.com/faultline/faultline/metrics"
)

func TestEveryKnownLabelExportedAtZero(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	types := []metrics.CatalogType{{ErrorType: "billing_not_verified", Category: "billing", StatusCode: "400"}, {ErrorType: "invalid_email", Category: "email", StatusCode: "400"}}
	// Every stage's, as New creates them.
	m := newCommitMetrics(reg, MetricsConfig{CatalogTypes: types, MaxUnknownErrorTypes: 3})
	newSourceMetrics(reg, []string{"api-errors"})
	newBatcherMetrics(reg)
	newLedgerMetrics(reg)
	newLagMetrics(reg)
	newBudgetMetrics(reg, 1<<20)
	w := newWriterMetrics(reg)
	if got := testutil.CollectAndCount(m.Events); got != len(types)*len(metrics.Environments) {
		t.Fatalf("events_total series = %d, want %d", got, len(types)*len(metrics.Environments))
	}
	if v := testutil.ToFloat64(m.Events.WithLabelValues("billing_not_verified", "billing", "live", "400")); v != 0 {
		t.Fatalf("want zero, got %v", v)
	}
	if got, want := testutil.CollectAndCount(m.Rejected), len(event.AllReasons())+2; got != want {
		t.Fatalf("rejected_total series = %d, want %d (the checks' reasons and the pipeline's two)", got, want)
	}
	if got := testutil.CollectAndCount(m.Flagged); got != len(event.AllFlags()) {
		t.Fatalf("flagged_total series = %d, want %d", got, len(event.AllFlags()))
	}
	if got := testutil.CollectAndCount(w.InsertErrors); got != 2*3 {
		t.Fatalf("insert_errors_total series = %d, want tables x classes", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		name := mf.GetName()
		if !strings.HasPrefix(name, "faultline_") {
			t.Errorf("%s lacks the faultline_ prefix", name)
		}
		if mf.GetType().String() == "COUNTER" && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s must end in _total", name)
		}
	}
}
