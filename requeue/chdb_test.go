package requeue

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// TestSQLOnCHDB runs requeue's own statements (selection count and read, the events look-up,
// the quarantine delete) on chDB (ClickHouse 26.7) against real rows, with the arguments
// bound as literals: chDB has no native-protocol connection for Run itself.
func TestSQLOnCHDB(t *testing.T) {
	ctx := context.Background()
	s := testenv.CHDB(t)
	db := "fl_requeue_" + time.Now().Format("150405")
	t.Cleanup(func() { _ = s.Exec("DROP DATABASE IF EXISTS " + db) })
	if _, err := schema.Migrate(ctx, s.Executor(), db); err != nil {
		t.Fatal(err)
	}
	received := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for _, r := range []struct {
		reason string
		offset int
	}{{"too_large", 10}, {"not_json_object", 11}, {"too_large", 12}, {"server_rejected", 13}} {
		if err := s.Exec(fmt.Sprintf("INSERT INTO %s.quarantine (received_at, reason, payload, kafka_topic, kafka_partition, kafka_offset, kafka_time, fingerprint) VALUES (%s, '%s', '{}', 'api-errors', 0, %d, %s, %d)",
			db, lit(received), r.reason, r.offset, lit(received), 1000+r.offset)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Exec("INSERT INTO " + db + ".events (event_time, error_type, status_code, kafka_topic, kafka_partition, kafka_offset) VALUES (now(), 'billing_not_verified', 400, 'api-errors', 0, 12)"); err != nil {
		t.Fatal(err)
	}
	run := func(sql string, args ...any) string {
		t.Helper()
		out, err := s.Query(bind(t, sql, args), "CSV")
		if err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
		return strings.TrimSpace(out)
	}

	until := time.Now().UTC()
	for _, tc := range []struct {
		o          Options
		count, ids string
	}{
		{Options{Since: received.Add(-time.Minute), Until: until}, "3", "10,11,12"},
		{Options{Since: received.Add(-time.Minute), Until: until, Reasons: []string{"too_large", "server_rejected"}}, "3", "10,12,13"},
		{Options{Since: received.Add(time.Minute), Until: until}, "0", ""},
	} {
		where, args := selection(db, tc.o)
		if got := run("SELECT count()"+where, args...); got != tc.count {
			t.Errorf("%+v: count %s, want %s", tc.o, got, tc.count)
		}
		var ids []string
		for _, line := range strings.Split(run(selectSQL(where), append(args, 100)...), "\n") {
			if f := strings.Split(line, ","); len(f) > 2 {
				ids = append(ids, f[2])
				if fp := f[len(f)-1]; fp != strconv.Itoa(1000+atoi(t, f[2])) {
					t.Errorf("offset %s read with fingerprint %s", f[2], fp)
				}
			}
		}
		if got := strings.Join(ids, ","); got != tc.ids {
			t.Errorf("%+v: read offsets %q, want %q", tc.o, got, tc.ids)
		}
	}

	if got := run(storedSQL(db, []int64{10, 12}), "api-errors", uint32(0)); got != "12" {
		t.Errorf("stored look-up %q, want 12", got)
	}
	run(deleteSQL(db, schema.Cluster{}, []int64{10, 12}), "api-errors", uint32(0), until)
	deadline := time.Now().Add(30 * time.Second)
	for run("SELECT count() FROM "+db+".quarantine") != "2" && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := run("SELECT arrayStringConcat(groupArray(toString(kafka_offset)), ',') FROM (SELECT kafka_offset FROM " + db + ".quarantine ORDER BY kafka_offset)"); got != `"11,13"` {
		t.Errorf("quarantine offsets left %s, want 11,13", got)
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// bind replaces each ? of sql with its argument as a ClickHouse literal (test values only).
func bind(t *testing.T, sql string, args []any) string {
	t.Helper()
	var b strings.Builder
	for _, r := range sql {
		if r != '?' {
			b.WriteRune(r)
			continue
		}
		if len(args) == 0 {
			t.Fatalf("too few arguments for %s", sql)
		}
		b.WriteString(lit(args[0]))
		args = args[1:]
	}
	if len(args) != 0 {
		t.Fatalf("%d arguments left over for %s", len(args), sql)
	}
	return b.String()
}

func lit(v any) string {
	switch v := v.(type) {
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
	case time.Time:
		return "toDateTime('" + v.UTC().Format("2006-01-02 15:04:05") + "', 'UTC')"
	default:
		return fmt.Sprint(v)
	}
}
