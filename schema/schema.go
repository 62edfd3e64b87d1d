// Package schema holds faultline's ClickHouse schema as versioned migrations, applies them
// idempotently, and records what was applied in a migrations table.
//
// Every statement must run unchanged on ClickHouse 18.16 (the server available to this
// project) and on a current ClickHouse: no TTL, codecs, DateTime64, Map or JSON types.
package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DefaultDatabase is the database faultline uses when config names none.
const DefaultDatabase = "faultline"

// MigrationsTable records applied migration versions.
const MigrationsTable = "schema_migrations"

// Migration is one numbered step of the schema.
type Migration struct {
	Version    int
	Name       string
	Statements []string // with ${db} still in place; see Render
}

// Executor runs SQL against some ClickHouse: the native client in production, chDB in tests
// that check the modern dialect.
type Executor interface {
	// Exec runs one statement that returns no rows.
	Exec(ctx context.Context, sql string) error
	// QueryUint64s runs a query whose result is one unsigned integer column.
	QueryUint64s(ctx context.Context, sql string) ([]uint64, error)
}

var (
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	fileRE  = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)
)

// ValidateDatabase reports whether name is safe to splice into DDL as an identifier. It is
// the only value from outside that ever becomes SQL text.
func ValidateDatabase(name string) error {
	if !identRE.MatchString(name) {
		return fmt.Errorf("database name %q must match %s", name, identRE)
	}
	return nil
}

// Migrations returns every embedded migration in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		m := fileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q: name must be NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		body, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		stmts := SplitStatements(string(body))
		if len(stmts) == 0 {
			return nil, fmt.Errorf("migration %s has no statements", e.Name())
		}
		out = append(out, Migration{Version: v, Name: m[2], Statements: stmts})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("two migrations with version %04d", out[i].Version)
		}
	}
	return out, nil
}

// SplitStatements cuts a migration file into statements at semicolons that end a line,
// dropping full-line "--" comments. Migrations keep semicolons out of string literals.
func SplitStatements(body string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for _, line := range strings.Split(body, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		if strings.HasSuffix(trimmed, ";") {
			cur.WriteString(strings.TrimSuffix(trimmed, ";"))
			out = append(out, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(trimmed)
		cur.WriteByte('\n')
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// Render puts the database name into a statement. database must pass ValidateDatabase.
func Render(stmt, database string) string {
	return strings.ReplaceAll(stmt, "${db}", "`"+database+"`")
}

// Migrate creates the database if needed and applies every migration not yet recorded, in
// order. Statements are idempotent (IF NOT EXISTS), so two ingesters starting at once, or a
// crash between a statement and its record, only repeat harmless work. It returns the
// versions it applied.
func Migrate(ctx context.Context, db Executor, database string) ([]int, error) {
	return MigrateOn(ctx, db, database, Options{})
}

// MigrateSteps is Migrate that calls step (when not nil) after each migration it applies,
// with how many of the pending ones are done, for progress on long migrations.
func MigrateSteps(ctx context.Context, db Executor, database string, step func(done, total int, name string)) ([]int, error) {
	return MigrateOn(ctx, db, database, Options{Step: step})
}

// Options are Migrate's choices beyond the database.
type Options struct {
	// Cluster renders every statement for a cluster (see Cluster); zero: one server.
	Cluster Cluster
	// DDLTimeout bounds each ON CLUSTER statement (distributed_ddl_task_timeout, whole
	// seconds, at least 1) when db is Native; zero leaves the server's setting.
	DDLTimeout time.Duration
	// Step, when not nil, is called after each migration applied, with how many of the
	// pending ones are done.
	Step func(done, total int, name string)
}

// MigrateOn is Migrate with options: on a cluster, DDL runs ON CLUSTER and the
// migrations table is replicated to every node, so any node's answer to Applied is
// the cluster's (it may lag a moment behind the node that recorded; the statements are
// idempotent).
func MigrateOn(ctx context.Context, db Executor, database string, o Options) ([]int, error) {
	if err := ValidateDatabase(database); err != nil {
		return nil, err
	}
	if err := o.Cluster.Validate(); err != nil {
		return nil, err
	}
	migs, err := Migrations()
	if err != nil {
		return nil, err
	}
	if o.DDLTimeout > 0 && o.Cluster.Enabled() {
		secs := max(int(math.Ceil(o.DDLTimeout.Seconds())), 1)
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"distributed_ddl_task_timeout": secs}))
	}
	if err := ApplyOn(ctx, db, database, o.Cluster, "CREATE DATABASE IF NOT EXISTS ${db}"); err != nil {
		return nil, fmt.Errorf("create database %s: %w", database, err)
	}
	if err := ApplyOn(ctx, db, database, o.Cluster, migrationsTableDDL); err != nil {
		return nil, fmt.Errorf("create %s.%s: %w", database, MigrationsTable, err)
	}
	done, err := Applied(ctx, db, database)
	if err != nil {
		return nil, err
	}
	var applied []int
	pending := 0
	for _, m := range migs {
		if !done[m.Version] {
			pending++
		}
	}
	for _, m := range migs {
		if done[m.Version] {
			continue
		}
		for i, stmt := range m.Statements {
			if err := ApplyOn(ctx, db, database, o.Cluster, stmt); err != nil {
				return applied, fmt.Errorf("migration %04d_%s statement %d: %w", m.Version, m.Name, i+1, err)
			}
		}
		// Version and name are ours (embedded, validated by fileRE), never user input.
		rec := fmt.Sprintf("INSERT INTO ${db}.%s (version, name, applied_at) SELECT %d, '%s', now()",
			MigrationsTable, m.Version, m.Name)
		if err := db.Exec(ctx, Render(rec, database)); err != nil {
			return applied, fmt.Errorf("record migration %04d_%s: %w", m.Version, m.Name, err)
		}
		applied = append(applied, m.Version)
		if o.Step != nil {
			o.Step(len(applied), pending, fmt.Sprintf("%04d_%s", m.Version, m.Name))
		}
	}
	return applied, nil
}

// Apply runs one migration statement on database. Every statement may run twice (a crash
// between a statement and its record, two ingesters migrating at once): CREATE statements
// say IF NOT EXISTS, and an ADD COLUMN that finds its column is taken as done, since 18.16
// has no ADD COLUMN IF NOT EXISTS.
func Apply(ctx context.Context, db Executor, database, stmt string) error {
	return ApplyOn(ctx, db, database, Cluster{}, stmt)
}

// ApplyOn is Apply with the statement rendered for cluster c (RenderCluster). An ON
// CLUSTER statement that runs out of distributed_ddl_task_timeout fails naming the hosts
// that did not answer.
func ApplyOn(ctx context.Context, db Executor, database string, c Cluster, stmt string) error {
	stmts, err := RenderCluster(stmt, database, c)
	if err != nil {
		return err
	}
	for _, sql := range stmts {
		err := db.Exec(ctx, sql)
		if err != nil && strings.Contains(strings.ToUpper(stmt), " ADD COLUMN ") && strings.Contains(err.Error(), "already exists") {
			continue
		}
		if err != nil && c.Enabled() {
			return ddlError(ctx, db, sql, err)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Applied returns the set of migration versions recorded in database.
func Applied(ctx context.Context, db Executor, database string) (map[int]bool, error) {
	vs, err := db.QueryUint64s(ctx, Render("SELECT DISTINCT toUInt64(version) FROM ${db}."+MigrationsTable, database))
	if err != nil {
		return nil, fmt.Errorf("read %s.%s: %w", database, MigrationsTable, err)
	}
	done := make(map[int]bool, len(vs))
	for _, v := range vs {
		done[int(v)] = true
	}
	return done, nil
}

// Pending returns the versions not yet applied; readiness checks use it.
func Pending(ctx context.Context, db Executor, database string) ([]int, error) {
	migs, err := Migrations()
	if err != nil {
		return nil, err
	}
	done, err := Applied(ctx, db, database)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, m := range migs {
		if !done[m.Version] {
			out = append(out, m.Version)
		}
	}
	return out, nil
}
