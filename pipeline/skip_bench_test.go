package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// BenchmarkSkipReadAtAssignment measures what a partition assignment costs before the first
// fetch (fence + first skip-read window) with FAULTLINE_BENCH_ROWS (default 10M) offsets of
// one partition stored: committed up to the end, 50k stored past the commit, and a group
// reset (commit at 0). `make bench-skip` runs it; figures are only meaningful on a quiet
// machine. Goal: under 200 ms per partition at 10M rows.
func BenchmarkSkipReadAtAssignment(b *testing.B) {
	n := int64(10_000_000)
	if v := os.Getenv("FAULTLINE_BENCH_ROWS"); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			b.Fatalf("FAULTLINE_BENCH_ROWS: %v", err)
		}
	}
	srv := testenv.StartClickHouseServer(b)
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{srv.Addr}, DialTimeout: 5 * time.Second, ReadTimeout: 10 * time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(conn), "bench"); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if err := conn.Exec(ctx, "INSERT INTO bench.stored_offsets SELECT 'api-errors', 0, number, cityHash64(number), now() FROM system.numbers LIMIT "+strconv.FormatInt(n, 10)); err != nil {
		b.Fatal(err)
	}
	if err := conn.Exec(ctx, "OPTIMIZE TABLE bench.stored_offsets FINAL"); err != nil {
		b.Logf("optimize: %v", err)
	}
	b.Logf("%d stored offsets in %s", n, time.Since(start).Round(time.Millisecond))
	s, err := NewSink(ctx, conn, WriterConfig{Database: "bench", InsertTimeout: time.Minute, Retry: RetryConfig{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond, FatalBackoff: time.Millisecond}},
		prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	for _, sc := range []struct {
		name string
		from int64
	}{{"committed", n}, {"50k_uncommitted", n - 50_000}, {"group_reset", 0}} {
		b.Run(sc.name, func(b *testing.B) {
			held := 0
			for i := 0; i < b.N; i++ {
				if err := s.fence(ctx, time.Now()); err != nil {
					b.Fatal(err)
				}
				set, err := s.storedOffsets(ctx, "api-errors", 0, sc.from)
				if err != nil {
					b.Fatal(err)
				}
				held = set.len()
			}
			b.ReportMetric(float64(held), "offsets_held")
		})
	}
}
