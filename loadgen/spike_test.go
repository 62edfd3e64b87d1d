package loadgen_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/loadgen"
)

func TestParseSpike(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    loadgen.Spike
		wantErr string
	}{
		{in: "billing_not_verified:20x:5m@2m", want: loadgen.Spike{ErrorType: "billing_not_verified", Factor: 20, Duration: 5 * time.Minute, Start: 2 * time.Minute}},
		{in: "bad_request:3:30s", want: loadgen.Spike{ErrorType: "bad_request", Factor: 3, Duration: 30 * time.Second}},
		{in: "bad_request:1.5x:1h@0s", want: loadgen.Spike{ErrorType: "bad_request", Factor: 1.5, Duration: time.Hour}},
		{in: "bad_request:20x", wantErr: "want TYPE:FACTORx:DURATION"},
		{in: "Bad-Request:20x:5m", wantErr: "does not match"},
		{in: "bad_request:twentyx:5m", wantErr: `factor "twentyx"`},
		{in: "bad_request:1x:5m", wantErr: "above 1"},
		{in: "bad_request:0.5x:5m", wantErr: "above 1"},
		{in: "bad_request:20x:5", wantErr: `duration "5"`},
		{in: "bad_request:20x:0s", wantErr: "must be positive"},
		{in: "bad_request:20x:5m@soon", wantErr: `start "soon"`},
		{in: "bad_request:20x:5m@-1m", wantErr: "must not be negative"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := loadgen.ParseSpike(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseSpike(%q) error %v, want one containing %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseSpike(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if back, err := loadgen.ParseSpike(got.String()); err != nil || back != got {
				t.Errorf("String() %q does not parse back: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestSpikeMultipliesTheTypesRate(t *testing.T) {
	cat := loadCatalog(t)
	for _, tc := range []struct {
		name   string
		typ    string
		factor float64
	}{
		{"20x", "billing_not_verified", 20},
		{"3x", "billing_not_verified", 3},
		{"5x other type", "breached_password", 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := loadgen.DefaultOptions()
			opts.Start = t0
			opts.Spikes = []loadgen.Spike{{ErrorType: tc.typ, Factor: tc.factor, Duration: 5 * time.Minute, Start: 2 * time.Minute}}
			g := loadgen.New(cat, opts)
			// Messages per unit time are proportional to RateFactor, so a
			// type's rate is its share of messages times RateFactor.
			rates := func(from time.Time) (typ, oth, factor float64) {
				const n = 100000
				before := g.Expected()
				for i := range n {
					g.Next(from.Add(time.Duration(i) * time.Microsecond))
				}
				after := g.Expected()
				factor = g.RateFactor(from)
				typ = float64(after.ByErrorType[tc.typ]-before.ByErrorType[tc.typ]) / n * factor
				// Every other accepted type together.
				oth = float64(after.Accepted-before.Accepted-(after.ByErrorType[tc.typ]-before.ByErrorType[tc.typ])) / n * factor
				return typ, oth, factor
			}
			baseT, baseO, f0 := rates(t0)
			spikeT, spikeO, f1 := rates(t0.Add(3 * time.Minute))
			afterT, _, f2 := rates(t0.Add(8 * time.Minute))
			if f0 != 1 || f2 != 1 || f1 <= 1 {
				t.Fatalf("RateFactor before/during/after = %v/%v/%v, want 1/>1/1", f0, f1, f2)
			}
			if want := g.TypeShare(tc.typ); math.Abs(baseT-want) > 0.15*want {
				t.Errorf("usual rate of %s %.5f, TypeShare says %.5f", tc.typ, baseT, want)
			}
			if got := spikeT / baseT; math.Abs(got-tc.factor) > 0.12*tc.factor {
				t.Errorf("%s during the spike at %.2fx its usual rate, want %vx", tc.typ, got, tc.factor)
			}
			if got := spikeO / baseO; math.Abs(got-1) > 0.02 {
				t.Errorf("the other types during the spike at %.3fx their usual rate, want 1x", got)
			}
			if got := afterT / baseT; math.Abs(got-1) > 0.15 {
				t.Errorf("%s after the spike at %.2fx its usual rate, want 1x", tc.typ, got)
			}
		})
	}
}
