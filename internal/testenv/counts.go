package testenv

import (
	"context"
	"sort"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// QueryInt runs a query returning one UInt64 and fails the test on error.
func QueryInt(t testing.TB, conn driver.Conn, q string, args ...any) int64 {
	t.Helper()
	var n uint64
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return int64(n)
}

// QueryCounts runs a query returning (String, UInt64) rows as a map.
func QueryCounts(t testing.TB, conn driver.Conn, q string) map[string]int64 {
	t.Helper()
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var (
			k string
			n uint64
		)
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = int64(n)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

// SameCounts reports every key whose count differs between got and want (a missing key
// counts 0), in key order.
func SameCounts(t testing.TB, what string, got, want map[string]int64) {
	t.Helper()
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if got[k] != want[k] {
			t.Errorf("%s[%s] = %d, want %d", what, k, got[k], want[k])
		}
	}
}
