package query

import (
	"context"
	"fmt"
	"time"
)

// BucketFor chooses the bucket width for a range: about 100-350 points whatever the range.
func BucketFor(r time.Duration) time.Duration {
	switch {
	case r <= 2*time.Hour:
		return time.Minute
	case r <= 12*time.Hour:
		return 5 * time.Minute
	case r <= 48*time.Hour:
		return 15 * time.Minute
	case r <= 14*24*time.Hour:
		return time.Hour
	default:
		return 24 * time.Hour
	}
}

// MaxBuckets bounds the points of a trend (a range of years at one bucket a day).
const MaxBuckets = 1000

// Series is one line of a trend: a count per bucket, zeros included.
type Series struct {
	ErrorType string   `json:"error_type"` // "" for the total of all types
	Total     uint64   `json:"total"`
	Counts    []uint64 `json:"counts"`
}

// TrendResult is the answer of Trend. Buckets[i] is the start of the i-th bucket, in UTC.
type TrendResult struct {
	Since, Until time.Time // aligned to Bucket
	Bucket       time.Duration
	Buckets      []time.Time
	All          Series   // every event matching the filter
	Types        []Series // the top error types, most events first
	FromRollup   bool     // read from events_per_minute
}

// Trend counts events per bucket for the whole filter and for its topTypes busiest error
// types. The range is widened to whole buckets (Since down, Until up) so every bucket is
// complete; gaps are filled with zeros here because 18.16 has no WITH FILL. Without an org or
// project filter and with buckets of 5 minutes or more it reads the per-minute rollup, whose
// minutes fall exactly into such buckets, so both sources give the same numbers.
func (c *Client) Trend(ctx context.Context, f Filter, topTypes int) (*TrendResult, error) {
	if !f.Until.After(f.Since) {
		return nil, fmt.Errorf("trend: until %s is not after since %s", f.Until, f.Since)
	}
	if topTypes < 0 || topTypes > 50 {
		return nil, fmt.Errorf("trend: number of error types %d is not in 0..50", topTypes)
	}
	bucket := BucketFor(f.Until.Sub(f.Since))
	since := f.Since.UTC().Truncate(bucket)
	until := f.Until.UTC().Truncate(bucket)
	if until.Before(f.Until) {
		until = until.Add(bucket)
	}
	n := int(until.Sub(since) / bucket)
	if n > MaxBuckets {
		return nil, fmt.Errorf("trend: %s to %s makes %d buckets of %s, more than %d; ask for a shorter range", since, until, n, bucket, MaxBuckets)
	}
	res := &TrendResult{Since: since, Until: until, Bucket: bucket, FromRollup: f.rollupOK() && bucket >= 5*time.Minute}
	for i := 0; i < n; i++ {
		res.Buckets = append(res.Buckets, since.Add(time.Duration(i)*bucket))
	}
	table, tcol, count := "${db}.events", "event_time", "count()"
	if res.FromRollup {
		table, tcol, count = "${db}.events_per_minute", "minute", "sum(events)"
	}
	g := f
	g.Since, g.Until = since, until
	cond, cargs := g.where()
	rng, rargs := timeRange(tcol, since, until)
	where := append(append([]any{}, rargs...), cargs...)
	secs := uint32(bucket / time.Second)
	bucketExpr := "toUInt64(intDiv(toUInt32(" + tcol + "), ?) * ?)"

	res.All = Series{Counts: make([]uint64, n)}
	place := func(s *Series, b, v uint64) error {
		i := (int64(b) - since.Unix()) / int64(secs)
		if i < 0 || i >= int64(n) {
			return fmt.Errorf("bucket %d outside the range", b)
		}
		s.Counts[i] += v
		s.Total += v
		return nil
	}
	allSQL := "SELECT " + bucketExpr + " AS b, " + count + " FROM " + table + "\nWHERE " + rng + cond + "\nGROUP BY b ORDER BY b"
	// The row bound of a trend is its number of points, itself bounded by MaxBuckets.
	limit := func(s stmt, rows int) stmt {
		s.sql += "\nLIMIT ?"
		s.args = append(s.args, uint64(rows)+1)
		return s
	}
	rows, err := c.run(ctx, limit(stmt{name: "trend", sql: allSQL, args: append([]any{secs, secs}, where...)}, n), func(r Rows) error {
		var b, v uint64
		if err := r.Scan(&b, &v); err != nil {
			return err
		}
		return place(&res.All, b, v)
	})
	if err != nil {
		return nil, err
	}
	if rows > n {
		return nil, fmt.Errorf("trend: more rows than buckets: %w", ErrTruncated)
	}
	if topTypes == 0 || res.All.Total == 0 {
		return res, nil
	}
	// GLOBAL IN: on a cluster table is Distributed, and the top types are chosen over
	// every shard once, not per shard (which ClickHouse refuses); on one server it is IN.
	typeSQL := "SELECT error_type, " + bucketExpr + " AS b, " + count + " FROM " + table + "\nWHERE " + rng + cond +
		"\n  AND error_type GLOBAL IN (SELECT error_type FROM " + table + " WHERE " + rng + cond +
		" GROUP BY error_type ORDER BY " + count + " DESC, error_type LIMIT ?)\nGROUP BY error_type, b ORDER BY error_type, b"
	args := append([]any{secs, secs}, where...)
	args = append(args, where...)
	args = append(args, uint64(topTypes))
	byType := map[string]*Series{}
	rows, err = c.run(ctx, limit(stmt{name: "trend by error type", sql: typeSQL, args: args}, n*topTypes), func(r Rows) error {
		var (
			t    string
			b, v uint64
		)
		if err := r.Scan(&t, &b, &v); err != nil {
			return err
		}
		s, ok := byType[t]
		if !ok {
			s = &Series{ErrorType: t, Counts: make([]uint64, n)}
			byType[t] = s
		}
		return place(s, b, v)
	})
	if err != nil {
		return nil, err
	}
	if rows > n*topTypes {
		return nil, fmt.Errorf("trend: more rows than points: %w", ErrTruncated)
	}
	for _, s := range byType {
		res.Types = append(res.Types, *s)
	}
	sortSeries(res.Types)
	return res, nil
}

func sortSeries(s []Series) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && (s[j].Total > s[j-1].Total || s[j].Total == s[j-1].Total && s[j].ErrorType < s[j-1].ErrorType); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
