package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestInfoGaugesAreSet(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	NewInfo(reg, "c1-abc", 7)
	want := `
# HELP faultline_catalog_info The catalog in use: 1 with its version and size.
# TYPE faultline_catalog_info gauge
faultline_catalog_info{entries="7",version="c1-abc"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "faultline_catalog_info"); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "faultline_build_info"); err != nil || n != 1 {
		t.Fatalf("build_info series = %d, %v; want 1", n, err)
	}
}

func TestUnknownTypesAreBounded(t *testing.T) {
	var evicted []string
	u := NewUnknownTypes(2, func(n string) { evicted = append(evicted, n) })
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
	if got := NewUnknownTypes(0, nil).Label("x", t0); got != OtherUnknown {
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
