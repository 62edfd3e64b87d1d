package loadgen_test

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/faultline/faultline/loadgen"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// at returns the time of message i at 1000 messages/s from t0.
func at(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }

func TestDeterministicForASeed(t *testing.T) {
	cat := loadCatalog(t)
	opts := loadgen.DefaultOptions()
	opts.MalformedShare = 0.2
	opts.Spikes = []loadgen.Spike{{ErrorType: "billing_not_verified", Factor: 5, Duration: time.Second, Start: 2 * time.Second}}
	a, b := loadgen.New(cat, opts), loadgen.New(cat, opts)
	opts.Seed = 2
	c := loadgen.New(cat, opts)
	differ := 0
	for i := range 10000 {
		ma, mb, mc := a.Next(at(i)), b.Next(at(i)), c.Next(at(i))
		if !bytes.Equal(ma.Value, mb.Value) || !bytes.Equal(ma.Key, mb.Key) || ma.Kind != mb.Kind || ma.Variant != mb.Variant {
			t.Fatalf("message %d differs for one seed:\n%.200q\n%.200q", i, ma.Value, mb.Value)
		}
		if !bytes.Equal(ma.Value, mc.Value) {
			differ++
		}
	}
	if differ < 9900 {
		t.Errorf("seeds 1 and 2 gave %d of 10000 different messages, want nearly all", differ)
	}
}

func TestErrorTypesAreSkewed(t *testing.T) {
	cat := loadCatalog(t)
	g := loadgen.New(cat, loadgen.DefaultOptions())
	for i := range 100000 {
		g.Next(at(i))
	}
	exp := g.Expected()
	var counts []int64
	for _, e := range cat.Entries() {
		counts = append(counts, exp.ByErrorType[e.ErrorType])
	}
	slices.Sort(counts)
	top, median := counts[len(counts)-1], counts[len(counts)/2]
	if top < 20*median {
		t.Errorf("top type %d events, median %d: want the top well above (20x) the median", top, median)
	}
	if counts[0] == 0 && counts[len(counts)/4] == 0 {
		t.Errorf("a quarter of the catalog never occurs in 100k messages: the tail is too thin")
	}
}

func TestShares(t *testing.T) {
	cat := loadCatalog(t)
	for _, tc := range []struct {
		name                               string
		malformed, unknown, envelope, live float64
	}{
		{"defaults", 0.02, 0.01, 0.5, 0.7},
		{"clean only", 0, 0, 0, 1},
		{"noisy", 0.3, 0.1, 0.9, 0.2},
		{"all envelopes", 0.05, 0.05, 1, 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := loadgen.DefaultOptions()
			opts.MalformedShare, opts.UnknownShare, opts.EnvelopeShare, opts.LiveShare = tc.malformed, tc.unknown, tc.envelope, tc.live
			g := loadgen.New(cat, opts)
			const n = 100000
			var malformed, unknown, wellFormed, envelopes, live, test float64
			for i := range n {
				m := g.Next(at(i))
				switch {
				case m.Kind == loadgen.KindRejected || m.Kind == loadgen.KindFlagged:
					malformed++
					continue
				case m.Kind == loadgen.KindUnknown:
					unknown++
				}
				wellFormed++
				if m.Envelope {
					envelopes++
				}
				switch m.Environment {
				case loadgen.EnvLive:
					live++
				case loadgen.EnvTest:
					test++
				}
			}
			within := func(what string, got, want float64) {
				t.Helper()
				// 5 standard deviations of a binomial share, plus a floor.
				tol := 5*math.Sqrt(want*(1-want)/n) + 0.001
				if math.Abs(got-want) > tol {
					t.Errorf("%s share %.4f, want %.4f ± %.4f", what, got, want, tol)
				}
			}
			within("malformed", malformed/n, tc.malformed)
			within("unknown", unknown/n, tc.unknown)
			within("envelope", envelopes/wellFormed, tc.envelope)
			within("live", live/(live+test), tc.live)
		})
	}
}

func TestMessagesAreWhatTheyClaim(t *testing.T) {
	cat := loadCatalog(t)
	for _, tc := range []struct {
		name      string
		malformed float64
		n         int
	}{
		{"defaults", loadgen.DefaultMalformedShare, 100000},
		{"all malformed", 1, 30000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := loadgen.DefaultOptions()
			opts.MalformedShare = tc.malformed
			opts.UnknownShare = min(opts.UnknownShare, 1-tc.malformed)
			opts.Spikes = []loadgen.Spike{{ErrorType: "billing_not_verified", Factor: 10, Duration: time.Minute}}
			g := loadgen.New(cat, opts)
			var bare, envelopes []int
			for i := range tc.n {
				m := g.Next(at(i))
				checkClaim(t, cat, &m)
				if len(m.Key) == 0 {
					t.Fatalf("%s message without a key", m.Variant)
				}
				if m.Kind == loadgen.KindAccepted && m.Envelope {
					envelopes = append(envelopes, len(m.Value))
				} else if m.Kind == loadgen.KindAccepted {
					bare = append(bare, len(m.Value))
				}
			}
			exp := g.Expected()
			for _, v := range loadgen.Variants() {
				if exp.ByVariant[v.Name] == 0 {
					t.Errorf("variant %s never made in %d messages", v.Name, tc.n)
				}
			}
			if tc.malformed < 0.1 {
				// Bare bodies are the API's ~300 B; envelopes add ids and
				// request context.
				sort.Ints(bare)
				sort.Ints(envelopes)
				if med := bare[len(bare)/2]; med < 200 || med > 400 {
					t.Errorf("median bare body %d bytes, want about 300", med)
				}
				if med := envelopes[len(envelopes)/2]; med > 800 {
					t.Errorf("median envelope %d bytes, want under 800", med)
				}
				t.Logf("median bare body %d B, median envelope %d B", bare[len(bare)/2], envelopes[len(envelopes)/2])
			}
		})
	}
}

func TestExpectedAddsUp(t *testing.T) {
	cat := loadCatalog(t)
	opts := loadgen.DefaultOptions()
	opts.MalformedShare, opts.UnknownShare = 0.1, 0.05
	g := loadgen.New(cat, opts)
	recount := loadgen.NewExpected()
	const n = 50000
	for i := range n {
		m := g.Next(at(i))
		recount.Add(&m)
	}
	exp := g.Expected()
	sum := func(m map[string]int64) (s int64) {
		for _, v := range m {
			s += v
		}
		return s
	}
	for _, c := range []struct {
		what      string
		got, want int64
	}{
		{"total", exp.Total, n},
		{"accepted + rejected", exp.Accepted + exp.Rejected, n},
		{"by kind", sum(exp.ByKind), n},
		{"by variant", sum(exp.ByVariant), n},
		{"by error type", sum(exp.ByErrorType), exp.Accepted},
		{"by environment", sum(exp.ByEnvironment), exp.Accepted},
		{"by reason", sum(exp.ByReason), exp.Rejected},
		{"by flag", sum(exp.ByFlag), exp.ByKind["flagged"] + exp.ByKind["unknown"]},
	} {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
	a, _ := json.Marshal(exp)
	b, _ := json.Marshal(recount)
	if !bytes.Equal(a, b) {
		t.Errorf("Expected differs from a recount of the messages:\n%s\n%s", a, b)
	}
}
