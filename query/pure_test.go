package query

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/faultline/faultline/internal/testenv"
)

// tailBySum is an independent reference: the sum of the pmf from k upwards, each term in logs.
func tailBySum(k uint64, lambda float64) float64 {
	if k == 0 {
		return 1
	}
	// 1 - P(X < k) when the lower part is small enough to subtract safely.
	if float64(k) > lambda {
		var s float64
		for i := k; i < k+2000; i++ {
			lg, _ := math.Lgamma(float64(i) + 1)
			s += math.Exp(-lambda + float64(i)*math.Log(lambda) - lg)
		}
		return s
	}
	var s float64
	for i := uint64(0); i < k; i++ {
		lg, _ := math.Lgamma(float64(i) + 1)
		s += math.Exp(-lambda + float64(i)*math.Log(lambda) - lg)
	}
	return 1 - s
}

func TestPoissonTail(t *testing.T) {
	cases := []struct {
		k      uint64
		lambda float64
		want   float64
	}{
		{0, 3, 1},
		{1, 0.5, 1 - math.Exp(-0.5)},
		{3, 0.5, 1 - math.Exp(-0.5)*(1+0.5+0.125)}, // 0.014387677966970687
		{1, 0, 0},
		{5, 5, 0.5595067149347875},
		{20, 10, 0.0034543419758568078}, // references: 80-digit decimal sums
		{61, 14.0 / 13, 0},              // compared by tailBySum below
		{100, 100, 0.5132987982791486},
		{1000, 1000, 0.50420524418021551},
		{3, 1.0 / 13, 0},
	}
	for _, c := range cases {
		got := PoissonTail(c.k, c.lambda)
		want := c.want
		if want == 0 && c.lambda > 0 {
			want = tailBySum(c.k, c.lambda)
		}
		if math.Abs(got-want) > 1e-9*math.Max(want, 1e-300) && math.Abs(got-want) > 1e-12 {
			t.Errorf("P(X>=%d | %g) = %.17g, want %.17g", c.k, c.lambda, got, want)
		}
	}
	// Against the reference over a grid, in both regimes of the algorithm.
	for _, lambda := range []float64{0.01, 0.3, 1, 2.5, 7, 20, 55, 150} {
		for _, k := range []uint64{1, 2, 5, 10, 20, 40, 80, 200} {
			got, want := PoissonTail(k, lambda), tailBySum(k, lambda)
			if want > 1e-300 && math.Abs(got-want)/want > 1e-9 {
				t.Errorf("P(X>=%d | %g) = %.17g, reference %.17g", k, lambda, got, want)
			}
		}
	}
	// Far tails stay finite and ordered in logs where the plain value underflows.
	a, b := PoissonTailLog(5000, 1), PoissonTailLog(6000, 1)
	if math.IsInf(a, 0) || math.IsNaN(a) || !(b < a) || PoissonTail(5000, 1) != 0 {
		t.Errorf("far tails: %g %g", a, b)
	}
	if l := PoissonTailLog(3, 0); !math.IsInf(l, -1) {
		t.Errorf("lambda 0: %g", l)
	}
}

func TestJudge(t *testing.T) {
	p := DefaultSpikeParams() // window 1h
	cases := []struct {
		name  string
		obs   uint64
		b     baseline
		spike bool
		basis string
	}{
		{"planted spike", 60, baseline{recentCount: 6, recentHours: 6, dayCount: 7, days: 7}, true, BasisRecent},
		{"steady high rate", 100, baseline{recentCount: 600, recentHours: 6, dayCount: 700, days: 7}, false, BasisRecent},
		{"tiny burst from nothing", 3, baseline{recentHours: 6, days: 7}, false, BasisRecent},
		{"new type at volume", 40, baseline{recentHours: 6, days: 7}, true, BasisRecent},
		{"double the usual", 200, baseline{recentCount: 600, recentHours: 6, dayCount: 700, days: 7}, false, BasisRecent},
		{"min count not met", 19, baseline{recentHours: 6, days: 7}, false, BasisRecent},
		// 60 in this hour every day, 1/h otherwise: usual for the time of day.
		{"daily recurring burst", 61, baseline{recentCount: 6, recentHours: 6, dayCount: 427, days: 7}, false, BasisTimeOfDay},
		{"same burst on a day it never happened", 61, baseline{recentCount: 6, recentHours: 6, dayCount: 7, days: 7}, true, BasisRecent},
		// A busy afternoon after a quiet night: today's recent hours are the higher baseline.
		{"busy since the morning", 100, baseline{recentCount: 540, recentHours: 6, dayCount: 70, days: 7}, false, BasisRecent},
		{"only previous days recorded", 60, baseline{dayCount: 7, days: 7}, true, BasisTimeOfDay},
		{"only the preceding period recorded", 60, baseline{recentCount: 6, recentHours: 6}, true, BasisRecent},
	}
	for _, c := range cases {
		sp := Spike{Observed: c.obs}
		judge(&sp, c.b, p)
		if fired := p.IsSpike(sp); fired != c.spike || sp.Basis != c.basis {
			t.Errorf("%s: fired=%v basis %s (p %g, ratio %g, expected %g = max(%g, %g))", c.name, fired, sp.Basis,
				sp.PValue, sp.Ratio, sp.Expected, sp.ExpectedRecent, sp.ExpectedTimeOfDay)
		}
		if want := math.Max(sp.ExpectedRecent, sp.ExpectedTimeOfDay); sp.Expected != want {
			t.Errorf("%s: expected %g, want %g", c.name, sp.Expected, want)
		}
	}
	// The numbers of the planted spike, by hand: recent (6+1)/6h*1h, time of day (7+1)/7.
	sp := Spike{Observed: 60}
	judge(&sp, baseline{recentCount: 6, recentHours: 6, dayCount: 7, days: 7}, p)
	if !approx(sp.ExpectedRecent, 7.0/6) || !approx(sp.ExpectedTimeOfDay, 8.0/7) || sp.BaselineCount != 13 || sp.BaselineHours != 13 {
		t.Errorf("planted spike %+v", sp)
	}
}

func TestSpikeParamsValidate(t *testing.T) {
	ok := DefaultSpikeParams()
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	for _, mut := range []func(*SpikeParams){
		func(p *SpikeParams) { p.Window = 30 * time.Second },
		func(p *SpikeParams) { p.Window = 90 * time.Second },
		func(p *SpikeParams) { p.Preceding = 23*time.Hour + time.Minute },
		func(p *SpikeParams) { p.Days = -1 },
		func(p *SpikeParams) { p.Preceding, p.Days = 0, 0 },
		func(p *SpikeParams) { p.Alpha = 0 },
		func(p *SpikeParams) { p.MinRatio = 0.5 },
	} {
		p := ok
		mut(&p)
		if p.validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	// Without previous days nothing can overlap: any window with a recent baseline.
	long := ok
	long.Window, long.Preceding, long.Days = 48*time.Hour, 48*time.Hour, 0
	if err := long.validate(); err != nil {
		t.Errorf("48h window, 48h baseline, no days: %v", err)
	}
}

func TestFitBaseline(t *testing.T) {
	def := DefaultSpikeParams() // 6h baseline, 7 days
	noDays := def
	noDays.Days = 0
	for _, c := range []struct {
		p         SpikeParams
		w         time.Duration
		preceding time.Duration
		days      int
		noted     bool
	}{
		{def, 30 * time.Minute, 6 * time.Hour, 7, false},
		{def, 18 * time.Hour, 6 * time.Hour, 7, false},
		{def, 19 * time.Hour, 5 * time.Hour, 7, true},
		{def, 23*time.Hour + 59*time.Minute, time.Minute, 7, true},
		{def, 24 * time.Hour, 24 * time.Hour, 0, true},
		{def, 72 * time.Hour, 72 * time.Hour, 0, true},
		{noDays, 30 * time.Hour, 6 * time.Hour, 0, false},
	} {
		got, note := FitBaseline(c.p, c.w)
		if got.Window != c.w || got.Preceding != c.preceding || got.Days != c.days || (note != "") != c.noted {
			t.Errorf("FitBaseline(%s baseline, %d days; window %s) = %s baseline, %d days, note %q; want %s, %d, noted %v",
				c.p.Preceding, c.p.Days, c.w, got.Preceding, got.Days, note, c.preceding, c.days, c.noted)
		}
		if err := got.validate(); err != nil {
			t.Errorf("window %s: fitted params rejected: %v", c.w, err)
		}
	}
}

func TestBucketFor(t *testing.T) {
	cases := []struct{ r, want time.Duration }{
		{time.Minute, time.Minute}, {2 * time.Hour, time.Minute}, {2*time.Hour + time.Second, 5 * time.Minute},
		{12 * time.Hour, 5 * time.Minute}, {24 * time.Hour, 15 * time.Minute}, {48 * time.Hour, 15 * time.Minute},
		{7 * 24 * time.Hour, time.Hour}, {14 * 24 * time.Hour, time.Hour}, {30 * 24 * time.Hour, 24 * time.Hour},
	}
	for _, c := range cases {
		if got := BucketFor(c.r); got != c.want {
			t.Errorf("BucketFor(%s) = %s, want %s", c.r, got, c.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in   string
		loc  *time.Location
		want time.Time
		bad  bool
	}{
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "7d", want: now.Add(-7 * 24 * time.Hour)},
		{in: "1d12h", want: now.Add(-36 * time.Hour)},
		{in: "now", want: now},
		{in: "2026-11-19T10:00:00Z", want: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)},
		{in: "2026-11-19T10:00:00+02:00", want: time.Date(2026, 11, 19, 8, 0, 0, 0, time.UTC)},
		{in: "2026-11-19 10:00", loc: berlin, want: time.Date(2026, 11, 19, 9, 0, 0, 0, time.UTC)},
		{in: "2026-11-19", want: time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)},
		{in: "-5h", bad: true},
		{in: "yesterday", bad: true},
		{in: "", bad: true},
		{in: "xd", bad: true},
	}
	for _, c := range cases {
		loc := c.loc
		if loc == nil {
			loc = time.UTC
		}
		got, err := ParseTime(c.in, now, loc)
		if c.bad {
			if err == nil {
				t.Errorf("ParseTime(%q) = %s, want an error", c.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %s, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestFilterWhereBindsEveryValue(t *testing.T) {
	f := Filter{Env: "live'", Org: "o", Project: "p", Category: "c", Status: 429, ErrorType: "e"}
	sql, args := f.where()
	if strings.Count(sql, "?") != len(args) || len(args) != 7 || strings.ContainsAny(sql, "'") {
		t.Errorf("where %q %v", sql, args)
	}
}

// TestBindersAgree proves the escaping: hostile strings bound by clickhouse-go on 18.16, and
// by the tests' own binder on chDB, come back unchanged.
func TestBindersAgree(t *testing.T) {
	hostile := []string{`x' OR 1=1 --`, `\'`, `\`, `\\'`, "a\x00b", "é\n\t", `?`, `'; DROP TABLE t; --`, "\\0", `{x:String}`, `@name`, `$1`}
	ch := testenv.ClickHouse(t)
	s := testenv.CHDB(t)
	ctx := context.Background()
	for _, h := range hostile {
		rows, err := Native(ch.Conn).Query(ctx, "SELECT ?, length(?)", h, h)
		if err != nil {
			t.Fatalf("%q on 18.16: %v", h, err)
		}
		var got string
		var n uint64
		if !rows.Next() {
			t.Fatal("no row")
		}
		if err := rows.Scan(&got, &n); err != nil || got != h || n != uint64(len(h)) {
			t.Errorf("18.16 gave %q (%d) for %q: %v", got, n, h, err)
		}
		rows.Close()
		r2, err := chdbDB{s}.Query(ctx, "SELECT ?, length(?)", h, h)
		if err != nil {
			t.Fatalf("%q on chDB: %v", h, err)
		}
		r2.Next()
		if err := r2.Scan(&got, &n); err != nil || got != h || n != uint64(len(h)) {
			t.Errorf("chDB gave %q (%d) for %q: %v", got, n, h, err)
		}
	}
}

// TestQueryTimeIsBounded: a query longer than the timeout ends with an error that names the
// bound, as the readonly user too (max_execution_time is accepted there, or dropped on
// READONLY).
func TestQueryTimeIsBounded(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ro := openReadonly(t, ch.Addr, ch.Database)
	for _, db := range []DB{Native(ch.Conn), Native(ro)} {
		c, err := New(db, ch.Database, Options{MaxRows: 10, Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.run(context.Background(), stmt{name: "slow", sql: "SELECT count() FROM system.numbers WHERE number != ?", args: []any{uint64(1)}},
			func(Rows) error { return nil })
		var ex *clickhouse.Exception
		if err == nil || !(strings.Contains(err.Error(), "timed out") || errors.As(err, &ex) && ex.Code == 159) {
			t.Errorf("unbounded query ended with %v", err)
		}
	}
}
