package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filter narrows events. Empty strings and a zero Status mean "any". Since is inclusive,
// Until exclusive.
type Filter struct {
	Since, Until time.Time
	Env          string
	Org          string
	Project      string
	// Category is matched against the current catalog (see categoryCond), not the category
	// stamped on the rows at insert.
	Category  string
	Status    uint16
	ErrorType string
	// ErrorTypes, when not empty, keeps only these types (the incident summary's spikes).
	ErrorTypes []string
}

// rollupOK reports whether events_per_minute has every column the filter needs.
func (f Filter) rollupOK() bool { return f.Org == "" && f.Project == "" }

// where returns the conditions of f other than time on the events table (or the rollup when
// rollup is true) as "AND ..." text with their arguments.
func (f Filter) where() (string, []any) {
	var (
		b    strings.Builder
		args []any
	)
	add := func(col string, v any) {
		b.WriteString(" AND " + col + " = ?")
		args = append(args, v)
	}
	if f.Env != "" {
		add("environment", f.Env)
	}
	if f.Org != "" {
		add("organization_id", f.Org)
	}
	if f.Project != "" {
		add("project_id", f.Project)
	}
	if f.Category != "" {
		b.WriteString(categoryCond)
		args = append(args, f.Category, f.Category)
	}
	if f.Status != 0 {
		add("status_code", f.Status)
	}
	if f.ErrorType != "" {
		add("error_type", f.ErrorType)
	}
	if len(f.ErrorTypes) > 0 {
		b.WriteString(" AND has(?, error_type)")
		args = append(args, f.ErrorTypes)
	}
	return b.String(), args
}

// categoryCond keeps the rows whose error type has category ? in the current catalog: the
// catalog table's newest entry (FINAL) for types in it, the category stamped at insert for
// types outside it. A catalog change thus reaches rows stored before it. It is a semi-join
// (IN on error_type) rather than a JOIN because it only filters: the primary key, which starts
// with error_type, stays usable, and the same text works on events and events_per_minute,
// which both carry error_type and the stamped category. Under FINAL the WHERE applies to
// the merged rows (ClickHouse does not move it to PREWHERE there), so an older entry of a type
// never matches; TestCategoryFilterFollowsCatalog checks it on both dialects.
const categoryCond = ` AND (error_type IN (SELECT error_type FROM ${db}.catalog FINAL WHERE category = ?)
    OR category = ? AND error_type NOT IN (SELECT error_type FROM ${db}.catalog))`

// timeRange returns "col >= toDateTime(?) AND col < toDateTime(?)" for [from, to).
func timeRange(col string, from, to time.Time) (string, []any) {
	return col + " >= toDateTime(?) AND " + col + " < toDateTime(?)", []any{unix(from), unix(to)}
}

// ParseTime reads a --since/--until value: a duration back from now ("90m", "24h", "7d",
// "1d12h"), an RFC 3339 time ("2026-11-28T10:00:00Z"), or a date or "YYYY-MM-DD HH:MM[:SS]"
// in loc.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty time")
	}
	if s == "now" {
		return now, nil
	}
	if d, err := ParseDuration(s); err == nil {
		if d < 0 {
			return time.Time{}, fmt.Errorf("duration %q is negative: give how far back, like 24h", s)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h, 90m, 7d) nor a time (RFC 3339 like 2026-11-28T10:00:00Z, or 2026-11-28 10:00)", s)
}

// ParseDuration is time.ParseDuration plus a leading whole number of days: "7d", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.ParseUint(s[:i], 10, 16)
		if err != nil {
			return 0, fmt.Errorf("bad day count in %q", s)
		}
		d := time.Duration(days) * 24 * time.Hour
		if rest := s[i+1:]; rest != "" {
			r, err := time.ParseDuration(rest)
			if err != nil {
				return 0, err
			}
			d += r
		}
		return d, nil
	}
	return time.ParseDuration(s)
}
