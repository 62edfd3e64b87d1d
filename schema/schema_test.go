package schema_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var wantTables = []string{"catalog", "events", "events_per_minute", "events_per_minute_mv", "quarantine", schema.MigrationsTable}

// The same migrations apply, twice, on the ClickHouse 18.16 server and on ClickHouse 26.7.
func TestMigrationsApplyTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	// insert writes two events at 10:00:01 and 10:00:59. Inline VALUES hang on 18.16 over
	// the native protocol, so the server gets a native batch.
	type inserter func(ctx context.Context, db string) error
	targets := []struct {
		name string
		open func(t *testing.T) (schema.Executor, string, inserter)
	}{
		{"clickhouse-server 18.16", func(t *testing.T) (schema.Executor, string, inserter) {
			ch := testenv.ClickHouse(t)
			return schema.Native(ch.Conn), ch.Database + "_fl", func(ctx context.Context, db string) error {
				b, err := ch.Conn.PrepareBatch(ctx, "INSERT INTO "+db+".events (event_time, error_type, status_code)")
				if err != nil {
					return err
				}
				for _, sec := range []int{1, 59} {
					if err := b.Append(time.Date(2026, 11, 29, 10, 0, sec, 0, time.UTC), "billing_not_verified", uint16(400)); err != nil {
						return err
					}
				}
				return b.Send()
			}
		}},
		{"clickhouse 26.7 (chDB)", func(t *testing.T) (schema.Executor, string, inserter) {
			s := testenv.CHDB(t)
			return s.Executor(), "fl_migrate_" + time.Now().Format("150405"), func(ctx context.Context, db string) error {
				return s.Exec("INSERT INTO " + db + ".events (event_time, error_type, status_code) VALUES ('2026-11-29 10:00:01', 'billing_not_verified', 400), ('2026-11-29 10:00:59', 'billing_not_verified', 400)")
			}
		}},
	}
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			db, name, insert := tc.open(t)
			first, err := schema.Migrate(ctx, db, name)
			if err != nil {
				t.Fatalf("first migrate: %v", err)
			}
			if len(first) != len(migs) {
				t.Fatalf("first migrate applied %v, want all %d", first, len(migs))
			}
			second, err := schema.Migrate(ctx, db, name)
			if err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if len(second) != 0 {
				t.Fatalf("second migrate applied %v, want none", second)
			}
			pending, err := schema.Pending(ctx, db, name)
			if err != nil || len(pending) != 0 {
				t.Fatalf("pending %v, %v", pending, err)
			}
			// Re-running every statement is harmless too (two ingesters racing at start).
			for _, m := range migs {
				for _, stmt := range m.Statements {
					if err := schema.Apply(ctx, db, name, stmt); err != nil {
						t.Fatalf("re-run %04d_%s: %v", m.Version, m.Name, err)
					}
				}
			}
			n, err := db.QueryUint64s(ctx, "SELECT toUInt64(count()) FROM system.tables WHERE database = '"+name+"' AND name IN ('"+strings.Join(wantTables, "','")+"')")
			if err != nil || len(n) != 1 || int(n[0]) != len(wantTables) {
				t.Fatalf("tables present: %v (%v), want %d", n, err, len(wantTables))
			}
			// The rollup follows inserts into events.
			if err := insert(ctx, name); err != nil {
				t.Fatal(err)
			}
			got, err := db.QueryUint64s(ctx, "SELECT toUInt64(sum(events)) FROM "+name+".events_per_minute WHERE minute = toDateTime('2026-11-29 10:00:00') AND error_type = 'billing_not_verified'")
			if err != nil || len(got) != 1 || got[0] != 2 {
				t.Fatalf("rollup holds %v (%v), want 2", got, err)
			}
			_ = db.Exec(ctx, "DROP DATABASE IF EXISTS "+name)
		})
	}
}

func TestValidateDatabase(t *testing.T) {
	for _, ok := range []string{"faultline", "_x", "Errs_2026"} {
		if err := schema.ValidateDatabase(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "1db", "a-b", "x; DROP TABLE y", "db`", "a.b"} {
		if err := schema.ValidateDatabase(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestSplitStatements(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"-- comment\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nCREATE VIEW b AS SELECT 1;\n", []string{"CREATE TABLE a (x UInt8)\nENGINE = Memory", "CREATE VIEW b AS SELECT 1"}},
		{"SELECT 1", []string{"SELECT 1"}},
		{"-- only a comment\n", nil},
	}
	for _, tc := range cases {
		got := schema.SplitStatements(tc.in)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("SplitStatements(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMigrationsAreNumberedAndRenderTheDatabase(t *testing.T) {
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range migs {
		if m.Version != i+1 {
			t.Errorf("migration %d has version %d: versions must be 1..n without gaps", i, m.Version)
		}
		for _, s := range m.Statements {
			if !strings.Contains(s, "${db}") {
				t.Errorf("%04d_%s: statement does not name ${db}: %s", m.Version, m.Name, s)
			}
			if r := schema.Render(s, "fl"); strings.Contains(r, "${db}") || !strings.Contains(r, "`fl`") {
				t.Errorf("render left %q", r)
			}
		}
	}
}
