package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

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
	var evicted []string
	u := newUnknownTypes(2, func(n string) { evicted = append(evicted, n) })
	t0 := time.Unix(1_700_000_000, 0)
	cases := []struct {
		in   string
		at   time.Duration
		want string
	}{
		{"a", 0, "a"}, {"b", time.Minute, "b"}, {"c", 2 * time.Minute, OtherUnknown}, {"a", 3 * time.Minute, "a"},
		{"d", 4 * time.Minute, OtherUnknown},
		// b was last seen at 1m: past UnknownIdle, its slot goes to the next new name.
		{"e", time.Minute + UnknownIdle, "e"},
		{"b", time.Minute + UnknownIdle, OtherUnknown}, // a (3m) is not idle yet
		{"f", 3*time.Minute + UnknownIdle, "f"},        // a is now
	}
	for _, tc := range cases {
		if got := u.Label(tc.in, t0.Add(tc.at)); got != tc.want {
			t.Errorf("Label(%q) at +%s = %q, want %q", tc.in, tc.at, got, tc.want)
		}
	}
	if fmt.Sprint(evicted) != "[b a]" {
		t.Errorf("evicted %v, want [b a]", evicted)
	}
	if got := newUnknownTypes(0, nil).Label("x", t0); got != OtherUnknown {
		t.Errorf("with max 0 every unknown type is %s, got %q", OtherUnknown, got)
	}
}

func TestStatusLabel(t *testing.T) {
	for _, tc := range []struct {
		code    uint16
		catalog bool
		want    string
	}{{400, true, "400"}, {400, false, "4xx"}, {503, false, "5xx"}, {100, false, "1xx"}, {599, false, "5xx"}} {
		if got := StatusLabel(tc.code, tc.catalog); got != tc.want {
			t.Errorf("StatusLabel(%d, %v) = %q, want %q", tc.code, tc.catalog, got, tc.want)
		}
	}
}
