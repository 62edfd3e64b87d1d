package query

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// ConnOptions are the connection settings of config's clickhouse section.
type ConnOptions struct {
	Addr        []string
	Database    string
	Username    string
	Password    string
	DialTimeout time.Duration
	ReadTimeout time.Duration
	Compression string // lz4, zstd or none
}

// Open connects with the native protocol and pings, so an unreachable server is reported at
// once with its address rather than at the first query.
func Open(ctx context.Context, o ConnOptions) (driver.Conn, error) {
	comp := &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	switch o.Compression {
	case "lz4", "":
	case "zstd":
		comp.Method = clickhouse.CompressionZSTD
	case "none":
		comp = nil
	default:
		return nil, fmt.Errorf("clickhouse.compression %q is not lz4, zstd or none", o.Compression)
	}
	addrs := strings.Join(o.Addr, ", ")
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        o.Addr,
		Auth:        clickhouse.Auth{Database: o.Database, Username: o.Username, Password: o.Password},
		DialTimeout: o.DialTimeout,
		ReadTimeout: o.ReadTimeout,
		Compression: comp,
	})
	if err != nil {
		return nil, fmt.Errorf("ClickHouse at %s: %w", addrs, err)
	}
	pctx, cancel := context.WithTimeout(ctx, o.DialTimeout+time.Second)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("cannot reach ClickHouse at %s as user %q (database %q): %w", addrs, o.Username, o.Database, err)
	}
	return conn, nil
}
