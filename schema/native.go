package schema

import (
	"context"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Native adapts a clickhouse-go native connection to Executor.
func Native(conn driver.Conn) Executor { return nativeExec{conn} }

type nativeExec struct{ conn driver.Conn }

func (n nativeExec) Exec(ctx context.Context, sql string) error { return n.conn.Exec(ctx, sql) }

func (n nativeExec) QueryUint64s(ctx context.Context, sql string) ([]uint64, error) {
	rows, err := n.conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var v uint64
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (n nativeExec) QueryStrings(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := n.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
