package event

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestParseRFC3339MatchesTimeParse compares the allocation-free parser with
// time.Parse on random valid timestamps (years 0..9999, leap days, offsets,
// 0-9 fraction digits) and on their damaged forms.
func TestParseRFC3339MatchesTimeParse(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20000; i++ {
		tm := time.Unix(r.Int64N(253402300799+62135596800)-62135596800, r.Int64N(1e9)).UTC()
		if i%10 == 0 { // leap days and year ends
			tm = time.Date([]int{0, 4, 100, 400, 1900, 2000, 2024, 9996}[r.IntN(8)], time.Month(2+10*r.IntN(2)), 28+r.IntN(4), 23, 59, 59, 0, time.UTC)
		}
		if off := r.IntN(5); off > 0 {
			tm = tm.In(time.FixedZone("", (r.IntN(48)-24)*1800))
		}
		layout := "2006-01-02T15:04:05" + []string{"", ".0", ".000", ".000000", ".000000000", ".999999999"}[r.IntN(6)] + "Z07:00"
		s := tm.Format(layout)
		if i%7 == 0 {
			b := []byte(s)
			b[r.IntN(len(b))] = "0123456789-:.TZ+ x"[r.IntN(18)]
			s = string(b)
		}
		want, werr := time.Parse(time.RFC3339Nano, s)
		got, ok := parseRFC3339(s)
		if ok != (werr == nil) || (ok && !got.Equal(want)) {
			// time.Parse does not range-check the offset (it takes -07:60);
			// RFC 3339 allows hours 00-23 and minutes 00-59 only.
			if werr == nil && !ok && badOffset(s) {
				continue
			}
			t.Fatalf("%q: got %v %v, time.Parse %v %v", s, got, ok, want, werr)
		}
		if ok && got.Location() != time.UTC {
			t.Fatalf("%q: location %v", s, got.Location())
		}
	}
}

func badOffset(s string) bool {
	if len(s) < 6 || s[len(s)-3] != ':' {
		return false
	}
	h, ok1 := digits(s[len(s)-5 : len(s)-3])
	m, ok2 := digits(s[len(s)-2:])
	return ok1 && ok2 && (h > 23 || m > 59)
}

func TestDaysFromCivil(t *testing.T) {
	for y := 0; y <= 9999; y += 7 {
		for _, m := range []int{1, 2, 3, 12} {
			want := time.Date(y, time.Month(m), 1, 0, 0, 0, 0, time.UTC).Unix() / 86400
			if got := daysFromCivil(y, m, 1); got != want {
				t.Fatalf("%04d-%02d-01: %d days, want %d", y, m, got, want)
			}
		}
	}
}

// Times outside a DateTime column are never an event's time: the envelope value is flagged
// bad_timestamp and kept, and the Kafka time is used.
func TestUnstorableEnvelopeTimesAreFlagged(t *testing.T) {
	c := NewChecker(testCatalog(t), Options{})
	kt := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		timestamp string
		kafka     time.Time
		bad       bool
	}{
		{"year 2200, no kafka time", `"2200-01-01T00:00:00Z"`, time.Time{}, true},
		{"year 2200 as epoch ms, no kafka time", `7258118400000`, time.Time{}, true},
		{"before 1970, no kafka time", `"1969-12-31T23:59:59Z"`, time.Time{}, true},
		{"negative epoch ms, no kafka time", `-1`, time.Time{}, true},
		{"last storable second", `"2105-12-31T23:59:59Z"`, time.Time{}, false},
		{"first storable second", `0`, time.Time{}, false},
		{"first unstorable second", `"2106-01-01T00:00:00Z"`, time.Time{}, true},
		{"past the last second by a millisecond", `4291747199001`, time.Time{}, true},
		{"in range and within skew", `"2026-12-02T09:00:00Z"`, kt, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			if _, ok := c.Check([]byte(body("timestamp", tt.timestamp)), tt.kafka, &ev); !ok {
				t.Fatal("rejected")
			}
			if got := ev.Flags.Has(FlagBadTimestamp); got != tt.bad {
				t.Fatalf("bad_timestamp = %v, want %v (time %v)", got, tt.bad, ev.Time)
			}
			if tt.bad {
				if v, _ := ev.Attr("timestamp"); v != tt.timestamp {
					t.Fatalf("attribute timestamp = %q, want %q", v, tt.timestamp)
				}
				if !ev.Time.Equal(tt.kafka.UTC()) {
					t.Fatalf("time %v, want the Kafka time %v", ev.Time, tt.kafka)
				}
			} else if !Storable(ev.Time) {
				t.Fatalf("time %v not storable", ev.Time)
			}
		})
	}
}

func TestStorable(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want bool
	}{
		{time.Time{}, false},
		{time.Unix(0, 0), true},
		{time.Unix(-1, 0), false},
		{time.Unix(MaxStorableUnix, 0), true},
		{time.Unix(MaxStorableUnix+1, 0), false},
		{time.Unix(MaxStorableUnix, 1), false},         // clickhouse-go refuses the fraction past the last second
		{time.UnixMilli(1_733_000_000_000_000), false}, // microseconds read as milliseconds
	} {
		if got := Storable(tt.t); got != tt.want {
			t.Errorf("Storable(%v) = %v, want %v", tt.t, got, tt.want)
		}
	}
}
