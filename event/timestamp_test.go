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
