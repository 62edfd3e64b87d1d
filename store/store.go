// Package store opens faultline's connection to ClickHouse from config, so the ingester and
// the query CLI connect the same way and fail the same way: naming the address.
package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/config"
)

// Open connects to ClickHouse over the native protocol and pings it. maxConns bounds the
// pool: the ingester needs one for inserts and one for reads.
func Open(ctx context.Context, cfg config.ClickHouse, maxConns int) (driver.Conn, error) {
	comp := &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	switch cfg.Compression {
	case "zstd":
		comp.Method = clickhouse.CompressionZSTD
	case "none":
		comp = nil
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: cfg.Addr,
		Auth: clickhouse.Auth{
			Database: "default", // the faultline database may not exist yet; queries name it
			Username: cfg.Username,
			Password: cfg.Password,
		},
		DialTimeout:  cfg.DialTimeout,
		ReadTimeout:  cfg.ReadTimeout,
		Compression:  comp,
		MaxOpenConns: maxConns,
		MaxIdleConns: maxConns,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %s: %w", strings.Join(cfg.Addr, ","), err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout+cfg.ReadTimeout)
	defer cancel()
	if err := conn.Ping(pctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse at %s unreachable: %w", strings.Join(cfg.Addr, ","), err)
	}
	return conn, nil
}
