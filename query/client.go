// Package query answers the on-call engineer's questions about stored error events: top error
// types, trends, spikes, single requests, catalog entries, unknown types, quarantine and the
// organizations affected. cmd/query is its command line.
//
// Every function builds SQL whose text is fixed by this package; every value that comes from
// the user is a bound parameter (a "?" bound by clickhouse-go, which quotes and escapes it), and
// the only identifier spliced in is the database name, validated by schema.ValidateDatabase.
// The SQL runs unchanged on ClickHouse 18.16 and on current ClickHouse: no WITH FILL,
// toStartOfInterval, window functions or server-side {name:Type} parameters; time buckets are
// intDiv arithmetic and gaps are filled in Go.
//
// Result sizes are bounded by a LIMIT of Options.MaxRows on every query and query time by a
// context deadline of Options.Timeout, which Native also sends as max_execution_time so the
// server stops working when the client gives up.
package query

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/faultline/faultline/schema"
)

// Rows is the part of a result set this package reads.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// DB runs a query whose "?" placeholders are bound to args.
type DB interface {
	Query(ctx context.Context, sql string, args ...any) (Rows, error)
}

// Native adapts a clickhouse-go native connection. Placeholders are bound client-side by
// clickhouse-go (strings quoted with ' and \ escaped), and the context deadline is sent as
// max_execution_time.
func Native(conn driver.Conn) DB { return nativeDB{conn} }

type nativeDB struct{ conn driver.Conn }

// errReadonlySetting is ClickHouse's READONLY (164): a server whose profile forbids changing
// settings answers it when a query carries max_execution_time.
const errReadonlySetting = 164

func (n nativeDB) Query(ctx context.Context, sql string, args ...any) (Rows, error) {
	qctx := ctx
	if dl, ok := ctx.Deadline(); ok {
		secs := int(math.Ceil(time.Until(dl).Seconds()))
		if secs < 1 {
			secs = 1
		}
		qctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"max_execution_time": secs}))
	}
	rows, err := n.conn.Query(qctx, sql, args...)
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && ex.Code == errReadonlySetting {
		// A readonly=1 user that may not change settings: the deadline still cancels the
		// query (clickhouse-go sends Cancel when the context ends).
		rows, err = n.conn.Query(ctx, sql, args...)
	}
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// Options bound what a Client asks of ClickHouse.
type Options struct {
	// MaxRows is the LIMIT of every query returning a list (config query.max_rows).
	MaxRows int
	// Timeout bounds each query (config query.timeout).
	Timeout time.Duration
	// Now is the clock; nil means time.Now. Tests pin it.
	Now func() time.Time
}

// Client answers questions from one database.
type Client struct {
	db       DB
	database string
	opts     Options
}

// New returns a Client reading database through db.
func New(db DB, database string, opts Options) (*Client, error) {
	if err := schema.ValidateDatabase(database); err != nil {
		return nil, err
	}
	if opts.MaxRows <= 0 {
		return nil, fmt.Errorf("query: max rows must be positive, got %d", opts.MaxRows)
	}
	if opts.Timeout <= 0 {
		return nil, fmt.Errorf("query: timeout must be positive, got %s", opts.Timeout)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Client{db: db, database: database, opts: opts}, nil
}

// Now returns the client's clock in UTC, truncated to the second (DateTime resolution).
func (c *Client) Now() time.Time { return c.opts.Now().UTC().Truncate(time.Second) }

// MaxRows is the row bound of list queries.
func (c *Client) MaxRows() int { return c.opts.MaxRows }

// ErrTruncated says a list hit Options.MaxRows; the rows returned are the first ones.
var ErrTruncated = errors.New("result truncated at query.max_rows")

// stmt is one query: SQL text with ${db} and ? placeholders, and its arguments.
type stmt struct {
	name string // for error messages
	sql  string
	args []any
}

// run executes s and calls scan for every row. It returns the number of rows.
func (c *Client) run(ctx context.Context, s stmt, scan func(Rows) error) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	rows, err := c.db.Query(ctx, schema.Render(s.sql, c.database), s.args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.name, timeoutHint(ctx, err, c.opts.Timeout))
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		if err := scan(rows); err != nil {
			return n, fmt.Errorf("%s: read row %d: %w", s.name, n+1, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("%s: %w", s.name, timeoutHint(ctx, err, c.opts.Timeout))
	}
	return n, nil
}

func timeoutHint(ctx context.Context, err error, d time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("query timed out after %s (query.timeout): %w", d, err)
	}
	return err
}

// limit appends the row bound to a list query: one more than MaxRows, so a full page can be
// told from a truncated one.
func (c *Client) limit(s stmt) stmt {
	s.sql += "\nLIMIT ?"
	s.args = append(s.args, uint64(c.opts.MaxRows)+1)
	return s
}

// truncated reports ErrTruncated when n rows came back for a limited query.
func (c *Client) truncated(n int) bool { return n > c.opts.MaxRows }

// cut trims a list query's rows (n of them read, LIMIT max_rows+1) to max_rows and says
// whether anything was cut.
func cut[T any](c *Client, rows []T, n int) ([]T, bool) {
	if c.truncated(n) {
		return rows[:c.opts.MaxRows], true
	}
	return rows, false
}

func unix(t time.Time) uint32 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}
