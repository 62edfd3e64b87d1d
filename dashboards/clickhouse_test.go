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

// fixture fills a migrated database with rows every ClickHouse panel finds: three error types
// (one unknown), two environments, five organizations over the last 200 minutes, quarantined
// messages of two reasons, and the catalog row of billing_not_verified. INSERT ... SELECT
// runs unchanged on 18.16 and 26.7; events_per_minute fills through its materialized view.
func fixture(db string) []string {
	return []string{
		`INSERT INTO ` + db + `.events (event_time, event_time_ms, status_code, error_type, request_id, error_message,
    error_url, environment, category, actor, known, flags, method, path, project_id, organization_id, member_id,
    client, region, latency_ms, attr_keys, attr_values, catalog_version, kafka_topic, kafka_partition, kafka_offset,
    kafka_time, ingested_at, insert_id)
SELECT now() - number * 60, 0, 400,
    arrayElement(['billing_not_verified', 'duplicate_email', 'mystery_error'], number % 3 + 1),
    concat('req-', toString(number)), 'message', '', if(number % 2 = 0, 'live', 'test'),
    arrayElement(['billing', 'members', 'unknown'], number % 3 + 1), 'account_admin', if(number % 3 = 2, 0, 1),
    emptyArrayString(), 'POST', '/v1/b2b/organizations', 'project-1', concat('org-', toString(number % 5)), '',
    'go', 'us', 12.5, emptyArrayString(), emptyArrayString(), 'c1-test', 'api-errors', toUInt32(number % 6), number,
    now() - number * 60, now() - number * 60 + 2, number
FROM system.numbers LIMIT 200`,
		`INSERT INTO ` + db + `.quarantine (received_at, reason, detail, payload, payload_bytes, kafka_topic,
    kafka_partition, kafka_offset, kafka_time, kafka_key, insert_id)
SELECT now() - number * 30, arrayElement(['invalid_json', 'missing_field'], number % 2 + 1), 'detail', '{}', 2,
    'api-errors', toUInt32(0), number, now(), '', number
FROM system.numbers LIMIT 20`,
		`INSERT INTO ` + db + `.catalog (error_type, status_code, category, actor, description, error_message, error_url,
    remediation, common_causes, troubleshooting, source, catalog_version, updated_at)
SELECT 'billing_not_verified', 400, 'billing', 'account_admin', 'desc', 'message', 'https://example.test/docs',
    'Add billing details.', emptyArrayString(), emptyArrayString(), 'docs', 'c1-test', now()`,
	}
}

// chQueries expands every ClickHouse target of the committed dashboards for database db.
func chQueries(t *testing.T, db string) map[string]string {
	t.Helper()
	vars := PanelVars(db, time.Now())
	out := make(map[string]string)
	for file, ts := range committed(t) {
		for _, tg := range ts {
			if tg.Kind != ClickHouseType {
				continue
			}
			sql, err := ExpandSQL(tg.Query, vars)
			if err != nil {
				t.Fatalf("%s / %s: expand: %v", file, tg.Panel, err)
			}
			out[file+" / "+tg.Panel+" / "+tg.RefID] = sql
		}
	}
	if len(out) == 0 {
		t.Fatal("no ClickHouse targets found")
	}
	return out
}

// TestClickHousePanelsOn1816 runs every ClickHouse panel query, macros expanded, on the
// clickhouse-server 18.16 as the read-only user Grafana's datasource uses, and expects rows.
func TestClickHousePanelsOn1816(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	for _, stmt := range fixture(ch.Database) {
		if err := ch.Conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("fixture: %v\n%s", err, stmt)
		}
	}
	ro, err := clickhouse.Open(&clickhouse.Options{Addr: []string{ch.Addr},
		Auth: clickhouse.Auth{Database: ch.Database, Username: "faultline_ro"}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for name, sql := range chQueries(t, ch.Database) {
		t.Run(name, func(t *testing.T) {
			rows, err := ro.Query(ctx, sql)
			if err != nil {
				t.Fatalf("query as faultline_ro: %v\n%s", err, sql)
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				n++
			}
			if err := rows.Err(); err != nil {
				t.Fatalf("rows: %v\n%s", err, sql)
			}
			if n == 0 {
				t.Errorf("no rows\n%s", sql)
			}
		})
	}
}

// TestClickHousePanelsOnCHDB runs the same queries on ClickHouse 26.7 (chDB), with the schema
// built by the same migrations.
func TestClickHousePanelsOnCHDB(t *testing.T) {
	s := testenv.CHDB(t)
	db := "dash_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := schema.Migrate(context.Background(), s.Executor(), db); err != nil {
		t.Fatalf("migrate on chDB: %v", err)
	}
	t.Cleanup(func() { _ = s.Exec("DROP DATABASE IF EXISTS " + db) })
	for _, stmt := range fixture(db) {
		if err := s.Exec(stmt); err != nil {
			t.Fatalf("fixture on chDB: %v\n%s", err, stmt)
		}
	}
	for name, sql := range chQueries(t, db) {
		t.Run(name, func(t *testing.T) {
			out, err := s.Query(sql, "JSONEachRow")
			if err != nil {
				t.Fatalf("query on chDB: %v\n%s", err, sql)
			}
			if strings.TrimSpace(out) == "" {
				t.Errorf("no rows\n%s", sql)
			}
		})
	}
}

// hostileValues are variable values a user could put in a dashboard URL or pick from data:
// quotes, backslashes (ClickHouse reads \\ as an escape in a string literal, Grafana's
// sqlstring and singlequote do not escape it), comments, statement ends, braces and commas.
var hostileValues = []string{
	`billing_not_verified`,
	`it's`,
	`\`,
	`\'`,
	`x\' OR 1=1 --`,
	`'); DROP TABLE events; --`,
	`a{b,c}`,
	"tab\tnewline\n",
	`ümlaut ✓`,
	`%41`,
}

// Every way the dashboards put a variable into SQL keeps a hostile value one literal: the
// expanded condition parses on ClickHouse 18.16 and 26.7 and compares equal to exactly the
// value given (a bound parameter, for the check).
func TestHostileVariableValuesStayLiterals(t *testing.T) {
	single := "decodeURLComponent('${error_type:percentencode}')"
	multi := "has(splitByChar(',', replaceRegexpAll(decodeURLComponent('${category:percentencode}'), '[{}]', '')), category)"
	rendered, err := Render()
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range rendered {
		for _, bad := range []string{":sqlstring}", ":singlequote}", ":raw}", "${error_type}", "$error_type'", "${category}"} {
			if strings.Contains(string(raw), bad) {
				t.Errorf("a dashboard puts a variable into SQL with %q", bad)
			}
		}
	}
	ch := testenv.ClickHouse(t)
	cs := testenv.CHDB(t)
	ctx := context.Background()
	for _, val := range hostileValues {
		v := Vars{Values: map[string][]string{"error_type": {val}, "category": {val}}, All: map[string]bool{}}
		got, err := ExpandSQL("SELECT "+single, v)
		if err != nil {
			t.Fatal(err)
		}
		var s string
		if err := ch.Conn.QueryRow(ctx, got).Scan(&s); err != nil || s != val {
			t.Errorf("18.16: %s gives %q, %v; want %q", got, s, err, val)
		}
		out, err := cs.Query(got+" AS v", "TSVRaw")
		if err != nil || strings.TrimSuffix(out, "\n") != val {
			t.Errorf("26.7: %s gives %q, %v; want %q", got, out, err, val)
		}
		if strings.ContainsAny(val, ",{}") {
			continue // the multi-value form splits on commas: category names have none
		}
		mv := Vars{Values: map[string][]string{"category": {val, "other"}}, All: map[string]bool{}}
		got, err = ExpandSQL("SELECT toUInt8("+multi+") FROM (SELECT ? AS category)", mv)
		if err != nil {
			t.Fatal(err)
		}
		var n uint8
		if err := ch.Conn.QueryRow(ctx, got, val).Scan(&n); err != nil || n != 1 {
			t.Errorf("18.16: %s with category %q gives %d, %v; want 1", got, val, n, err)
		}
	}
}
