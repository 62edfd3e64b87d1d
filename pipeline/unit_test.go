package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
)

func TestClassify(t *testing.T) {
	exc := func(code int32, msg string) error {
		return fmt.Errorf("insert: %w", &clickhouse.Exception{Code: code, Message: msg})
	}
	cases := []struct {
		name string
		err  error
		want errorClass
	}{
		{"too many parts", exc(252, "Too many parts (300). Merges are processing significantly slower than inserts"), classRetryable},
		{"too many partitions in one block", exc(252, "Too many partitions for single INSERT block (more than 100)"), classData},
		{"memory limit", exc(241, "Memory limit (total) exceeded"), classRetryable},
		{"timeout", exc(159, "Timeout exceeded"), classRetryable},
		{"unknown table", exc(60, "Table faultline.events doesn't exist"), classFatal},
		{"unknown database", exc(81, "Database faultline doesn't exist"), classFatal},
		{"wrong password", exc(193, "Wrong password for user default"), classFatal},
		{"authentication", exc(516, "Authentication failed"), classFatal},
		{"readonly user", exc(164, "Cannot execute query in readonly mode"), classFatal},
		{"throwIf check column", exc(395, "Value passed to 'throwIf' function is non zero"), classData},
		{"constraint", exc(469, "Constraint c violated"), classData},
		{"type mismatch", exc(53, "Type mismatch"), classData},
		{"connection refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, classRetryable},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), classRetryable},
		{"eof", io.EOF, classRetryable},
		{"deadline", context.DeadlineExceeded, classRetryable},
		{"acquire timeout", clickhouse.ErrAcquireConnTimeout, classRetryable},
		{"anything else", errors.New("something odd"), classRetryable},
		{"client refused a value", fmt.Errorf("insert: %w", &encodeError{column: "event_time", err: errors.New("dateTime overflow")}), classData},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := classify(tc.err); got != tc.want {
				t.Fatalf("classify(%v) = %s, want %s", tc.err, got, tc.want)
			}
		})
	}
}

// Only UNKNOWN_STATUS_OF_INSERT says an insert's rows, though readable, may never be
// committed; a read-only replica or a lost connection says nothing of the kind.
func TestUnknownStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("insert: %w", &clickhouse.Exception{Code: 319, Message: "Unknown status, client must retry. Reason: Connection loss"}), true},
		{&clickhouse.Exception{Code: 999, Message: "Coordination::Exception: Connection loss"}, false},
		{&clickhouse.Exception{Code: 242, Message: "Table is in readonly mode"}, false},
		{io.EOF, false},
	} {
		if got := unknownStatus(tc.err); got != tc.want {
			t.Errorf("unknownStatus(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
	if classify(&clickhouse.Exception{Code: 319}) != classRetryable {
		t.Errorf("an insert of unknown status must be retried")
	}
}

// A refusal by clickhouse-go becomes a client_rejected quarantine row with the library's
// message; one by the server stays server_rejected.
func TestRefusalNamesWhoRefused(t *testing.T) {
	reason, detail := refusal(&encodeError{column: "event_time", err: errors.New("dateTime overflow")})
	if reason != ReasonClientRejected || !strings.Contains(detail, "event_time: dateTime overflow") {
		t.Fatalf("client refusal: %s %s", reason, detail)
	}
	reason, detail = refusal(&clickhouse.Exception{Code: 395, Message: "throwIf"})
	if reason != ReasonServerRejected || !strings.Contains(detail, "throwIf") {
		t.Fatalf("server refusal: %s %s", reason, detail)
	}
}

func TestOffsetSet(t *testing.T) {
	s := &offsetSet{}
	for _, o := range []int64{3, 4, 5, 7, 10, 11} {
		s.add(o, uint64(o)*1000)
	}
	s.add(11, 999) // a second row at 11: an earlier incarnation of the topic
	s.add(12, 0)   // a row from before fingerprints
	s.add(20, 20000)
	if got := fmt.Sprint(s.ranges); got != "[[3 5] [7 7] [10 12] [20 20]]" {
		t.Fatalf("ranges %s", got)
	}
	if s.len() != 8 {
		t.Fatalf("len %d", s.len())
	}
	for _, tc := range []struct {
		o              int64
		fp             uint64
		stored, reused bool
	}{
		{0, 0, false, false},
		{3, 3000, true, false},
		{4, 1, false, true}, // another message at a stored offset
		{5, 5000, true, false},
		{6, 6000, false, false},
		{7, 7000, true, false},
		{10, 10000, true, false},
		{11, 999, true, false}, // matches the second row there
		{12, 123, true, false}, // legacy rows match anything
		{20, 20001, false, true},
		{25, 25000, false, false},
	} {
		stored, reused := s.match(tc.o, tc.fp)
		if stored != tc.stored || reused != tc.reused {
			t.Fatalf("match(%d, %d) = %v, %v; want %v, %v", tc.o, tc.fp, stored, reused, tc.stored, tc.reused)
		}
	}
	if !s.exhausted() {
		t.Fatal("set should be exhausted after its last offset")
	}
	if stored, _ := (&offsetSet{}).match(0, 1); stored {
		t.Fatal("empty set holds nothing")
	}
}

// The fingerprint tells messages apart by key, value and record time, and is never the 0
// that marks rows stored before fingerprints.
func TestFingerprint(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	base := kafka.Message{Key: []byte("k"), Value: []byte("v"), Time: at}
	for name, m := range map[string]kafka.Message{
		"value":            {Key: []byte("k"), Value: []byte("w"), Time: at},
		"key":              {Key: []byte("j"), Value: []byte("v"), Time: at},
		"time":             {Key: []byte("k"), Value: []byte("v"), Time: at.Add(time.Millisecond)},
		"key/value border": {Key: []byte("kv"), Value: []byte(""), Time: at},
		"no time":          {Key: []byte("k"), Value: []byte("v")},
	} {
		if fingerprint(m) == fingerprint(base) {
			t.Errorf("%s: same fingerprint", name)
		}
	}
	same := base
	same.Offset, same.Partition = 99, 3
	if fingerprint(same) != fingerprint(base) {
		t.Error("coordinates changed the fingerprint")
	}
	if fingerprint(kafka.Message{}) == 0 || fold(fingerprint(base)) == 0 {
		t.Error("fingerprint 0")
	}
}

func TestBudgetBlocksAtLimitAndWakesOnRelease(t *testing.T) {
	waits := prometheus.NewCounter(prometheus.CounterOpts{Name: "w"})
	b := newBudget(100, &budgetMetrics{InflightWait: waits})
	ctx := context.Background()
	if _, err := b.acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if b.waitedFor() != 0 {
		t.Fatalf("an acquire that fits counted %s of waiting", b.waitedFor())
	}
	got := make(chan error, 1)
	go func() { _, err := b.acquire(ctx, 60); got <- err }()
	select {
	case err := <-got:
		t.Fatalf("acquire past the limit returned %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if b.inUse() != 60 {
		t.Fatalf("in use %d", b.inUse())
	}
	// The wait is counted: at least the 50 ms before the release.
	if w := b.waitedFor(); w < 50*time.Millisecond || w > 10*time.Second {
		t.Errorf("waited %s, want at least 50ms", w)
	}
	if got, want := testutil.ToFloat64(waits), b.waitedFor().Seconds(); got != want {
		t.Errorf("faultline_inflight_wait_seconds_total %v, want %v", got, want)
	}
	// A message larger than the whole budget still passes, alone.
	b.release(60)
	if n, err := b.acquire(ctx, 1000); err != nil || n != 100 {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := b.acquire(cctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a full budget with an ending ctx: %v", err)
	}
}

func TestBackoffIsCappedAndJittered(t *testing.T) {
	s := &Sink{retry: RetryConfig{InitialBackoff: 100 * time.Millisecond, MaxBackoff: time.Second, FatalBackoff: 30 * time.Second}}
	for attempt := 0; attempt < 20; attempt++ {
		d := s.backoff(classRetryable, attempt)
		ceiling := min(100*time.Millisecond<<attempt, time.Second)
		if attempt > 10 {
			ceiling = time.Second
		}
		if d < ceiling/2 || d > ceiling {
			t.Fatalf("attempt %d: backoff %s outside [%s, %s]", attempt, d, ceiling/2, ceiling)
		}
	}
	if d := s.backoff(classFatal, 0); d != 30*time.Second {
		t.Fatalf("fatal backoff %s", d)
	}
}

// A shutdown past its timeout, while a sealed batch with waiters cannot be handed over, must
// answer each waiter once and let the batcher end (it used to answer twice and hang).
func TestBatcherAnswersWaitersOnceOnShutdown(t *testing.T) {
	in := &Ingester{
		cfg: Config{Batch: BatchConfig{MaxAge: time.Second, MaxRows: 10, MaxBytes: 1 << 20}},
	}
	l := &lane{
		sink:    &Sink{},
		budget:  newBudget(1<<20, nil),
		items:   make(chan item, 1),
		batches: make(chan *pending), // nobody stores: the hand-over blocks
	}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	go func() { in.batchLoop(ctx, l); close(exited) }()
	done := make(chan error, 1)
	l.items <- item{flush: &flushRequest{trigger: "shutdown", done: done}}
	time.Sleep(50 * time.Millisecond) // the batcher now waits to hand the sealed batch over
	cancel()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Fatal("batcher did not end after cancel")
	}
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiter got %v, want context.Canceled", err)
	}
}

func TestSpans(t *testing.T) {
	for _, tt := range []struct {
		name        string
		spans       []span
		n           int
		head, tail  []span
		odd         []span // the rows of spans with an odd index
		rows, total int
	}{
		{"empty", nil, 0, nil, nil, nil, 0, 0},
		{"one run, split in the middle", []span{{0, 6}}, 3, []span{{0, 3}}, []span{{3, 6}}, []span{{1, 2}, {3, 4}, {5, 6}}, 6, 6},
		{"split at a run's end", []span{{0, 2}, {4, 6}}, 2, []span{{0, 2}}, []span{{4, 6}}, []span{{1, 2}, {5, 6}}, 4, 4},
		{"split inside the second run", []span{{0, 2}, {4, 7}}, 3, []span{{0, 2}, {4, 5}}, []span{{5, 7}}, []span{{1, 2}, {5, 6}}, 5, 5},
		{"split at zero", []span{{2, 4}}, 0, nil, []span{{2, 4}}, []span{{3, 4}}, 2, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			head, tail := splitSpans(tt.spans, tt.n)
			if !reflect.DeepEqual(head, tt.head) || !reflect.DeepEqual(tail, tt.tail) {
				t.Errorf("splitSpans(%v, %d) = %v, %v; want %v, %v", tt.spans, tt.n, head, tail, tt.head, tt.tail)
			}
			if got := filterSpans(tt.spans, func(i int) bool { return i%2 == 1 }); !reflect.DeepEqual(got, tt.odd) {
				t.Errorf("filterSpans(odd) = %v, want %v", got, tt.odd)
			}
			if got := spansLen(tt.spans); got != tt.rows {
				t.Errorf("spansLen = %d, want %d", got, tt.rows)
			}
			seen := 0
			eachRow(tt.spans, func(int) { seen++ })
			if seen != tt.total {
				t.Errorf("eachRow visited %d rows, want %d", seen, tt.total)
			}
		})
	}
}

// TestFillSetsEveryField: fill reuses a pooled Row field by field, so a field added to Row
// and not to fill would carry the previous message's value into the next row.
func TestFillSetsEveryField(t *testing.T) {
	r := &Row{}
	v := reflect.ValueOf(r).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if v.Type().Field(i).Name == "Event" {
			continue
		}
		f = reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem() // unexported too
		switch f.Kind() {
		case reflect.String:
			f.SetString("stale")
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int32, reflect.Int64:
			f.SetInt(7)
		case reflect.Uint64:
			f.SetUint(7)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]byte("stale")))
		case reflect.Pointer:
			f.Set(reflect.ValueOf(&partition{id: 9}))
		case reflect.Struct: // time.Time
			f.Set(reflect.ValueOf(time.Unix(7, 0)))
		default:
			t.Fatalf("Row.%s: kind %s is not covered by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	msg := kafka.Message{Partition: 2, Offset: 42, Time: at, Key: []byte("k"), Value: []byte("v")}
	r.fill("t", nil, msg, at)
	want := Row{Topic: "t", Partition: 2, Offset: 42, KafkaTime: at, Key: msg.Key, Payload: msg.Value,
		fingerprint: fingerprint(msg)}
	r.Event = event.Event{}
	if !reflect.DeepEqual(*r, want) {
		t.Errorf("fill left stale fields:\n got %+v\nwant %+v", *r, want)
	}
}
