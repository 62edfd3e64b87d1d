package pipeline

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// errorClass says what to do about a failed insert.
type errorClass string

// The classes of insert errors; values are metric labels.
const (
	// classRetryable: the server or the network is in trouble for now (connection refused or
	// reset, timeouts, too many parts, memory limits). Retry with backoff; nothing is wrong
	// with the rows.
	classRetryable errorClass = "retryable"
	// classData: the server refused the rows themselves. Retrying the same block fails the
	// same way, so the batch is split to find the offending rows.
	classData errorClass = "data"
	// classFatal: faultline cannot write at all until someone acts (missing table or
	// database, authentication, permissions). Keep retrying slowly; never commit past.
	classFatal errorClass = "fatal"
)

// ClickHouse error codes, from ClickHouse's src/Common/ErrorCodes.cpp.
var (
	fatalCodes = map[int32]bool{
		8:   true, // THERE_IS_NO_COLUMN
		16:  true, // NO_SUCH_COLUMN_IN_TABLE
		60:  true, // UNKNOWN_TABLE
		81:  true, // UNKNOWN_DATABASE
		164: true, // READONLY
		192: true, // UNKNOWN_USER
		193: true, // WRONG_PASSWORD
		194: true, // REQUIRED_PASSWORD
		195: true, // IP_ADDRESS_NOT_ALLOWED
		291: true, // DATABASE_ACCESS_DENIED
		497: true, // ACCESS_DENIED
		516: true, // AUTHENTICATION_FAILED
	}
	dataCodes = map[int32]bool{
		6:   true, // CANNOT_PARSE_TEXT
		26:  true, // CANNOT_PARSE_QUOTED_STRING
		27:  true, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
		38:  true, // CANNOT_PARSE_DATE
		41:  true, // CANNOT_PARSE_DATETIME
		43:  true, // ILLEGAL_TYPE_OF_ARGUMENT
		53:  true, // TYPE_MISMATCH
		69:  true, // ARGUMENT_OUT_OF_BOUND
		70:  true, // CANNOT_CONVERT_TYPE
		72:  true, // CANNOT_PARSE_NUMBER
		117: true, // INCORRECT_DATA
		131: true, // TOO_LARGE_STRING_SIZE
		321: true, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
		349: true, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
		395: true, // FUNCTION_THROW_IF_VALUE_IS_NON_ZERO (a MATERIALIZED check column)
		469: true, // VIOLATED_CONSTRAINT
	}
)

// classify sorts an insert error into retryable, data or fatal. Anything it does not
// recognise is retryable: retrying loses nothing, dropping would.
func classify(err error) errorClass {
	var enc *encodeError
	if errors.As(err, &enc) {
		return classData
	}
	var exc *clickhouse.Exception
	if errors.As(err, &exc) {
		switch {
		case fatalCodes[exc.Code]:
			return classFatal
		case dataCodes[exc.Code]:
			return classData
		case exc.Code == 252 && strings.Contains(exc.Message, "partitions for single INSERT"):
			// TOO_MANY_PARTS is usually load, but "too many partitions for single INSERT
			// block" is the rows' own doing: smaller blocks span fewer partitions.
			return classData
		}
		return classRetryable
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, clickhouse.ErrAcquireConnTimeout):
		return classRetryable
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		return classRetryable
	}
	return classRetryable
}

// unknownStatus reports whether the server could not tell whether a Replicated insert was
// committed (UNKNOWN_STATUS_OF_INSERT: ZooKeeper was lost during the commit). The part is on
// the replica's disk then, visible to reads, yet may never be committed and be removed later:
// rows read back are no proof. Only sending the same block again settles it (a repeat of a
// committed block is dropped as a duplicate, one that was not is stored).
func unknownStatus(err error) bool {
	var exc *clickhouse.Exception
	return errors.As(err, &exc) && exc.Code == 319
}

func (s *Sink) backoff(class errorClass, attempt int) time.Duration {
	if class == classFatal {
		return s.retry.FatalBackoff
	}
	d := s.retry.InitialBackoff
	for i := 0; i < attempt && d < s.retry.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.retry.MaxBackoff)
	// Full jitter over the upper half: spread retries of many ingesters apart.
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryCause names what a retryable insert error says, for the cause label of
// faultline_insert_retry_causes_total (metrics.RetryCauses).
func retryCause(err error) string {
	var exc *clickhouse.Exception
	if errors.As(err, &exc) {
		switch exc.Code {
		case 242: // TABLE_IS_READ_ONLY: a replica lost its ZooKeeper session
			return "replica_readonly"
		case 225, 999: // NO_ZOOKEEPER, KEEPER_EXCEPTION (Coordination::Exception)
			return "zookeeper"
		case 279, 210, 209: // ALL_CONNECTION_TRIES_FAILED, NETWORK_ERROR, SOCKET_TIMEOUT between servers
			return "shard_unavailable"
		case 252: // TOO_MANY_PARTS
			return "too_many_parts"
		case 241: // MEMORY_LIMIT_EXCEEDED
			return "memory"
		case 159: // TIMEOUT_EXCEEDED
			return "timeout"
		}
		return "other"
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return "timeout"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.As(err, &nerr) ||
		errors.Is(err, clickhouse.ErrAcquireConnTimeout) {
		return "connection"
	}
	return "other"
}

// retryCauses are the values of the cause label of faultline_insert_retry_causes_total.
var retryCauses = []string{"connection", "timeout", "replica_readonly", "zookeeper", "shard_unavailable", "too_many_parts", "memory", "other"}

// attemptID keeps one insert id for as long as the same rows are sent again. A retried
// block is then byte for byte the block before (same rows, order, insert_id, ingested_at),
// and a Replicated table deduplicates it: an attempt whose reply was lost, and which the
// verify read did not see (it landed on a replica that died before the part was fetched),
// is not stored twice. A different set of rows (some landed, some abandoned, a split) gets a
// new id, so an insert_deduplication_token never hides rows that were not stored.
type attemptID struct {
	id     uint64
	rows   int  // rows only ever leave a write, so an equal count is the same rows
	failed bool // an attempt with this id failed
	// repeated: the block was sent again right away once after rows of it landed.
	repeated bool
}

func (a *attemptID) forRows(n int) uint64 {
	if a.id == 0 || a.rows != n {
		a.id, a.rows, a.failed, a.repeated = rand.Uint64()|1, n, false, false
	}
	return a.id
}

// What the retries tell Ready: a fatal error outstanding, or a run of failed attempts that
// lasts.

// fatalError is the last fatal insert error, if no insert succeeded since.
func (s *Sink) fatalError() error {
	if p := s.fatal.Load(); p != nil {
		return *p
	}
	return nil
}

// insertFailure is a run of failed insert attempts with no success between them.
type insertFailure struct {
	since time.Time // the run's first failed attempt
	table string    // the table of its latest attempt
	err   error     // and that attempt's error
}

// noteFailure records a failed attempt: the run keeps its start, the latest error replaces
// the one before it.
func (s *Sink) noteFailure(table string, err error) {
	since := time.Now()
	if prev := s.failing.Load(); prev != nil {
		since = prev.since
	}
	s.failing.Store(&insertFailure{since: since, table: table, err: err})
}

// failingFor returns how long inserts have failed with none succeeding, and the latest
// failure; zero while they succeed.
func (s *Sink) failingFor(now time.Time) (time.Duration, *insertFailure) {
	f := s.failing.Load()
	if f == nil {
		return 0, nil
	}
	return now.Sub(f.since), f
}
