package event

import (
	"math"
	"strconv"
	"time"
)

// parseRFC3339 parses YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM) without
// allocating (time.Parse allocates a FixedZone for every non-UTC offset). The
// result is in UTC. 'T' and 'Z' may be lowercase, as RFC 3339 allows; a leap
// second (:60) is rejected, as time.Parse does. Fractions beyond nanoseconds
// are truncated.
func parseRFC3339(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	i := 19
	nsec := 0
	if s[i] == '.' {
		i++
		start := i
		for i < len(s) && isDigit(s[i]) {
			if i-start < 9 {
				nsec = nsec*10 + int(s[i]-'0')
			}
			i++
		}
		n := i - start
		if n == 0 {
			return time.Time{}, false
		}
		for ; n < 9; n++ {
			nsec *= 10
		}
	}
	if i >= len(s) {
		return time.Time{}, false
	}
	offset := 0
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s)-i != 6 || s[i+3] != ':' {
			return time.Time{}, false
		}
		oh, okh := digits(s[i+1 : i+3])
		om, okm := digits(s[i+4 : i+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, false
	}
	if i != len(s) {
		return time.Time{}, false
	}
	// time.Date normalizes and costs more than the whole scan of a field;
	// the fields are validated above, so compute the Unix time directly.
	unix := daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, int64(nsec)).UTC(), true
}

// daysFromCivil returns the days from 1970-01-01 to the given proleptic
// Gregorian date (Howard Hinnant's algorithm), for years 0..9999.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400 // [0, 399]
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// maxEpochMs bounds epoch milliseconds to about ±31,000 years, far beyond any
// clock skew, so that conversions cannot overflow.
const maxEpochMs = 1e15

// parseEpochMs parses the raw text of a JSON number as epoch milliseconds.
func parseEpochMs(raw string, isInt bool) (time.Time, bool) {
	if isInt {
		neg := raw[0] == '-'
		d := raw
		if neg {
			d = d[1:]
		}
		if len(d) > 15 {
			return time.Time{}, false
		}
		ms, _ := digits(d)
		if neg {
			ms = -ms
		}
		return time.UnixMilli(int64(ms)).UTC(), true
	}
	v, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.Abs(v) > maxEpochMs {
		return time.Time{}, false
	}
	sec := math.Floor(v / 1000)
	nsec := math.Round((v - sec*1000) * 1e6)
	return time.Unix(int64(sec), int64(nsec)).UTC(), true
}

// The times a ClickHouse DateTime column holds, as clickhouse-go v2 accepts them
// (1970-01-01 00:00:00 to 2105-12-31 23:59:59 UTC). The client refuses a whole
// block for one time outside, so no such time may become an event's Time.
const (
	MinStorableUnix = 0
	MaxStorableUnix = 4291747199
)

// Storable reports whether t fits a DateTime column. The zero time.Time (what
// kafka-go reports for a record timestamp of 0 or -1) does not.
func Storable(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	// clickhouse-go compares whole times: 23:59:59.5 of the last day is already past.
	u := t.Unix()
	return u >= MinStorableUnix && (u < MaxStorableUnix || (u == MaxStorableUnix && t.Nanosecond() == 0))
}
