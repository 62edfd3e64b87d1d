package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestEveryKnownLabelExportedAtZero(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	types := []CatalogType{{"billing_not_verified", "billing", "400"}, {"invalid_email", "email", "400"}}
	m := NewIngest(reg, types, []string{"too_large", "not_json_object"}, []string{"unknown_error_type"}, "c1-abc", 3)
	if got := testutil.CollectAndCount(m.Events); got != len(types)*len(Environments) {
		t.Fatalf("events_total series = %d, want %d", got, len(types)*len(Environments))
	}
	if v := testutil.ToFloat64(m.Events.WithLabelValues("billing_not_verified", "billing", "live", "400")); v != 0 {
		t.Fatalf("want zero, got %v", v)
	}
	if got := testutil.CollectAndCount(m.Rejected); got != 2 {
		t.Fatalf("rejected_total series = %d", got)
	}
	if got := testutil.CollectAndCount(m.InsertErrors); got != len(Tables)*len(ErrorClasses) {
		t.Fatalf("insert_errors_total series = %d", got)
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

func TestUnknownTypesAreBounded(t *testing.T) {
	u := newUnknownTypes(2)
	cases := []struct{ in, want string }{
		{"a", "a"}, {"b", "b"}, {"c", OtherUnknown}, {"a", "a"}, {"d", OtherUnknown}, {"b", "b"},
	}
	for _, tc := range cases {
		if got := u.Label(tc.in); got != tc.want {
			t.Errorf("Label(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := newUnknownTypes(0).Label("x"); got != OtherUnknown {
		t.Errorf("with max 0 every unknown type is %s, got %q", OtherUnknown, got)
	}
}
