package query

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/chconn"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// bindLiterals renders args into the ? placeholders of sql as ClickHouse literals, for chDB
// only (it has no client-side binding). It mirrors clickhouse-go v2.25's bind: strings are
// quoted with ' and have \ and ' backslash-escaped; TestBindersAgree checks both binders give
// back every hostile string unchanged. Never used outside tests.
func bindLiterals(sql string, args []any) (string, error) {
	var b strings.Builder
	i := 0
	for p := 0; p < len(sql); p++ {
		if sql[p] != '?' || (p > 0 && sql[p-1] == '\\') {
			b.WriteByte(sql[p])
			continue
		}
		if i >= len(args) {
			return "", fmt.Errorf("more placeholders than %d args in %s", len(args), sql)
		}
		lit, err := literal(args[i])
		if err != nil {
			return "", err
		}
		b.WriteString(lit)
		i++
	}
	if i != len(args) {
		return "", fmt.Errorf("%d args for %d placeholders", len(args), i)
	}
	return b.String(), nil
}

// NUL is written as \0 because chDB takes the query as a C string; the server reads a raw NUL
// inside a quoted string fine, which is what clickhouse-go sends.
var quoteReplacer = strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\x00", `\0`)

func literal(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return "'" + quoteReplacer.Replace(v) + "'", nil
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i], _ = literal(s)
		}
		return "[" + strings.Join(parts, ", ") + "]", nil
	case uint8, uint16, uint32, uint64, int, int64:
		return fmt.Sprint(v), nil
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64), nil
	case *float64:
		if v == nil {
			return "NULL", nil
		}
		return literal(*v)
	case time.Time:
		return fmt.Sprintf("toDateTime(%d)", v.Unix()), nil
	}
	return "", fmt.Errorf("no literal for %T", v)
}

// chdbDB runs queries on chDB (ClickHouse 26.7) with literals bound by bindLiterals.
type chdbDB struct{ s *testenv.CHDBSession }

func (d chdbDB) Query(_ context.Context, sql string, args ...any) (Rows, error) {
	bound, err := bindLiterals(sql, args)
	if err != nil {
		return nil, err
	}
	out, err := d.s.Query(bound, "JSONCompactEachRow")
	if err != nil {
		return nil, err
	}
	var rows [][]json.RawMessage
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var r []json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, fmt.Errorf("decode chDB row %q: %w", sc.Text(), err)
		}
		rows = append(rows, r)
	}
	return &jsonRows{rows: rows, i: -1}, nil
}

type jsonRows struct {
	rows [][]json.RawMessage
	i    int
}

func (r *jsonRows) Next() bool   { r.i++; return r.i < len(r.rows) }
func (r *jsonRows) Err() error   { return nil }
func (r *jsonRows) Close() error { return nil }

func (r *jsonRows) Scan(dest ...any) error {
	row := r.rows[r.i]
	if len(row) != len(dest) {
		return fmt.Errorf("row has %d columns, scanning %d", len(row), len(dest))
	}
	for i, d := range dest {
		if err := scanJSON(row[i], d); err != nil {
			return fmt.Errorf("column %d (%s): %w", i, row[i], err)
		}
	}
	return nil
}

// scanJSON converts one JSONCompactEachRow value (64-bit integers and DateTimes arrive as
// strings) into the Go type clickhouse-go would scan it into.
func scanJSON(raw json.RawMessage, dest any) error {
	unq := func() string {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return string(raw)
	}
	uint := func(bits int) (uint64, error) { return strconv.ParseUint(unq(), 10, bits) }
	switch d := dest.(type) {
	case *string:
		return json.Unmarshal(raw, d)
	case *[]string:
		return json.Unmarshal(raw, d)
	case *uint64:
		v, err := uint(64)
		*d = v
		return err
	case *uint32:
		v, err := uint(32)
		*d = uint32(v)
		return err
	case *uint16:
		v, err := uint(16)
		*d = uint16(v)
		return err
	case *uint8:
		v, err := uint(8)
		*d = uint8(v)
		return err
	case *float64:
		return json.Unmarshal(raw, d)
	case **float64:
		if string(raw) == "null" {
			*d = nil
			return nil
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err != nil {
			return err
		}
		*d = &f
		return nil
	case *time.Time:
		t, err := time.ParseInLocation("2006-01-02 15:04:05", unq(), time.UTC)
		*d = t
		return err
	}
	return fmt.Errorf("cannot scan into %T", dest)
}

// backend is one ClickHouse the query layer is tested on, with a migrated database.
type backend struct {
	name     string
	db       DB
	database string
	insert   func(t *testing.T, table string, cols []string, rows [][]any)
	// readonly is a DB for the same database as a readonly=1 user (18.16 only).
	readonly DB
	// addr is the server's native address (18.16 only), for remote() copies.
	addr string
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func serverBackend(t *testing.T) *backend {
	t.Helper()
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	if _, err := schema.Migrate(ctx, schema.Native(ch.Conn), ch.Database); err != nil {
		t.Fatal(err)
	}
	ro := openReadonly(t, ch.Addr, ch.Database)
	return &backend{
		name: "clickhouse-18.16", db: Native(ch.Conn), database: ch.Database, readonly: Native(ro), addr: ch.Addr,
		insert: func(t *testing.T, table string, cols []string, rows [][]any) {
			t.Helper()
			batch, err := ch.Conn.PrepareBatch(ctx, "INSERT INTO "+ch.Database+"."+table+" ("+strings.Join(cols, ", ")+")")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if err := batch.Append(r...); err != nil {
					t.Fatal(err)
				}
			}
			if err := batch.Send(); err != nil {
				t.Fatal(err)
			}
		},
	}
}

func chdbBackend(t *testing.T) *backend {
	t.Helper()
	s := testenv.CHDB(t)
	db := randomName("q_")
	if _, err := schema.Migrate(context.Background(), s.Executor(), db); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Exec("DROP DATABASE IF EXISTS " + db) })
	return &backend{
		name: "chdb-26.7", db: chdbDB{s}, database: db,
		insert: func(t *testing.T, table string, cols []string, rows [][]any) {
			t.Helper()
			for start := 0; start < len(rows); start += 2000 {
				end := min(start+2000, len(rows))
				var vals []string
				for _, r := range rows[start:end] {
					ph := strings.TrimSuffix(strings.Repeat("?, ", len(r)), ", ")
					v, err := bindLiterals("("+ph+")", r)
					if err != nil {
						t.Fatal(err)
					}
					vals = append(vals, v)
				}
				if err := s.Exec("INSERT INTO " + db + "." + table + " (" + strings.Join(cols, ", ") + ") VALUES " + strings.Join(vals, ", ")); err != nil {
					t.Fatal(err)
				}
			}
		},
	}
}

// backends returns both ClickHouses, each with its own migrated database.
func backends(t *testing.T) []*backend {
	return []*backend{serverBackend(t), chdbBackend(t)}
}

func openReadonly(t *testing.T, addr, database string) driver.Conn {
	t.Helper()
	conn, err := chconn.Open(context.Background(), config.ClickHouse{Addr: []string{addr}, Username: "faultline_ro",
		DialTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, Compression: "lz4"}, chconn.Options{Database: database})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }
