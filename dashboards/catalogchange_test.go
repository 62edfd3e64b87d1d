package dashboards

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// lines runs sql, whose columns are all wrapped into one String column "line", and returns
// its rows in order.
type lines func(t *testing.T, sql string) []string

// panelBackends are both ClickHouses with the fixture planted in a migrated database: 18.16
// read as faultline_ro (Grafana's user), 26.7 through chDB.
func panelBackends(t *testing.T) map[string]struct {
	db   string
	exec func(t *testing.T, sql string)
	read lines
} {
	ctx := context.Background()
	ch := testenv.ClickHouse(t)
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	ro, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr},
		Auth: clickhouse.Auth{Database: ch.Database, Username: "faultline_ro"}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	s := testenv.CHDB(t)
	cdb := "dashcat_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := schema.Migrate(ctx, s.Executor(), cdb); err != nil {
		t.Fatalf("migrate on chDB: %v", err)
	}
	t.Cleanup(func() { _ = s.Exec("DROP DATABASE IF EXISTS " + cdb) })
	out := map[string]struct {
		db   string
		exec func(t *testing.T, sql string)
		read lines
	}{
		"clickhouse-18.16": {db: ch.Database,
			exec: func(t *testing.T, sql string) {
				t.Helper()
				if err := ch.Conn.Exec(ctx, sql); err != nil {
					t.Fatalf("%v\n%s", err, sql)
				}
			},
			read: func(t *testing.T, sql string) []string {
				t.Helper()
				rows, err := ro.Query(ctx, sql)
				if err != nil {
					t.Fatalf("query as faultline_ro: %v\n%s", err, sql)
				}
				defer rows.Close()
				var got []string
				for rows.Next() {
					var l string
					if err := rows.Scan(&l); err != nil {
						t.Fatal(err)
					}
					got = append(got, l)
				}
				if err := rows.Err(); err != nil {
					t.Fatalf("%v\n%s", err, sql)
				}
				return got
			}},
		"chdb-26.7": {db: cdb,
			exec: func(t *testing.T, sql string) {
				t.Helper()
				if err := s.Exec(sql); err != nil {
					t.Fatalf("chDB: %v\n%s", err, sql)
				}
			},
			read: func(t *testing.T, sql string) []string {
				t.Helper()
				res, err := s.Query(sql, "TSVRaw")
				if err != nil {
					t.Fatalf("chDB: %v\n%s", err, sql)
				}
				res = strings.TrimSuffix(res, "\n")
				if res == "" {
					return nil
				}
				return strings.Split(res, "\n")
			}},
	}
	return out
}

// panelSQL returns the committed SQL of one ClickHouse panel, expanded with $category set to
// cats (nil: All).
func panelSQL(t *testing.T, file, panel, db string, cats []string) string {
	t.Helper()
	v := PanelVars(db, time.Now())
	if cats != nil {
		v.Values["category"] = cats
		v.All = map[string]bool{}
	}
	for _, tg := range committed(t)[file] {
		if tg.Panel == panel && tg.Kind == ClickHouseType {
			sql, err := ExpandSQL(tg.Query, v)
			if err != nil {
				t.Fatal(err)
			}
			return sql
		}
	}
	t.Fatalf("%s has no ClickHouse panel %q", file, panel)
	return ""
}

// TestPanelsShowCurrentCategory: after the catalog moves billing_not_verified from billing to
// account and adds mystery_error (stored as unknown) under members, the Overview's ClickHouse
// panels, run as committed on 18.16 and 26.7, show and filter by the new categories: the top
// table (the rollup joined to the catalog), the events-per-interval series under a $category
// filter, and the unknown types table. duplicate_email, never in the catalog table, keeps the
// members it was stamped with.
func TestPanelsShowCurrentCategory(t *testing.T) {
	const (
		top     = "Top error types"
		series  = "Events per interval by environment (ClickHouse)"
		unknown = "Unknown error types"
	)
	for name, b := range panelBackends(t) {
		t.Run(name, func(t *testing.T) {
			for _, stmt := range fixture(b.db) {
				b.exec(t, stmt)
			}
			topLines := func(cats []string) string {
				return strings.Join(b.read(t, `SELECT concat(error_type, ' ', category, ' ', toString(events)) AS line FROM (`+
					panelSQL(t, "overview.json", top, b.db, cats)+`) ORDER BY line`), "; ")
			}
			seriesTotal := func(cats []string) string {
				return strings.Join(b.read(t, `SELECT toString(sum(events)) AS line FROM (`+panelSQL(t, "overview.json", series, b.db, cats)+`)`), "; ")
			}
			unknownTypes := func() string {
				return strings.Join(b.read(t, `SELECT error_type AS line FROM (`+panelSQL(t, "overview.json", unknown, b.db, nil)+`) ORDER BY line`), "; ")
			}
			// Before: as stamped (billing_not_verified's catalog row agrees with its rows).
			if got, want := topLines(nil), "billing_not_verified billing 67; duplicate_email members 67; mystery_error unknown 66"; got != want {
				t.Fatalf("top table before the change: %q, want %q", got, want)
			}
			if got := unknownTypes(); got != "mystery_error" {
				t.Fatalf("unknown types before the change: %q", got)
			}

			b.exec(t, `INSERT INTO `+b.db+`.catalog (error_type, status_code, category, actor, description, error_message, error_url,
    remediation, common_causes, troubleshooting, source, catalog_version, updated_at)
SELECT arrayElement(['billing_not_verified', 'mystery_error'], number + 1), 400, arrayElement(['account', 'members'], number + 1),
    'developer', '', '', '', '', emptyArrayString(), emptyArrayString(), 'overrides', 'c2-test', now() + 60
FROM system.numbers LIMIT 2`)

			for _, tc := range []struct {
				cats        []string
				top, series string
			}{
				{nil, "billing_not_verified account 67; duplicate_email members 67; mystery_error members 66", "200"},
				{[]string{"account"}, "billing_not_verified account 67", "67"},
				{[]string{"billing"}, "", "0"},
				{[]string{"members", "unknown"}, "duplicate_email members 67; mystery_error members 66", "133"},
				{[]string{"unknown"}, "", "0"},
			} {
				if got := topLines(tc.cats); got != tc.top {
					t.Errorf("top table, $category %v: %q, want %q", tc.cats, got, tc.top)
				}
				if got := seriesTotal(tc.cats); got != tc.series {
					t.Errorf("events per interval, $category %v: %s events, want %s", tc.cats, got, tc.series)
				}
			}
			if got := unknownTypes(); got != "" {
				t.Errorf("unknown types after mystery_error joined the catalog: %q, want none", got)
			}
		})
	}
}
