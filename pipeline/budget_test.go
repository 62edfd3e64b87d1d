package pipeline

import (
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/event"
)

// tinyKeys is a maximum-size (64 KiB) event made of thousands of one-field keys: the shape
// that holds the most decoded memory per payload byte.
func tinyKeys() []byte {
	var b strings.Builder
	b.WriteString(`{"status_code":400,"error_type":"billing_not_verified"`)
	for i := 0; b.Len() < 64<<10-16; i++ {
		b.WriteString(`,"` + strconv.FormatInt(int64(i), 36) + `":1`)
	}
	b.WriteString("}")
	return []byte(b.String())
}

// The budget charges what a message costs once decoded (and copied into insert columns),
// not its bytes: measured on the heap, rows of tiny-keys messages hold no more than they
// are charged.
func TestDecodedCostIsCharged(t *testing.T) {
	checker := event.NewChecker(mustCatalog(t), event.Options{})
	payload := tinyKeys()
	const n = 40
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rows := make([]*Row, n)
	charged := 0
	for i := range rows {
		msg := kafka.Message{Offset: int64(i), Time: time.Now(), Value: append([]byte(nil), payload...)}
		r, ct := newRow("t", nil, msg, time.Now())
		checkRow(checker, r, ct, msg.Time)
		if !r.Accepted {
			t.Fatalf("rejected: %s %s", r.Reason, r.Detail)
		}
		charged += r.size() + r.decodedExtra()
		rows[i] = r
	}
	cols := eventColumnsOf(rows, 1, time.Now().UTC())
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(rows)
	runtime.KeepAlive(cols)
	attrs := len(rows[0].Event.Attributes)
	t.Logf("%d messages of %d bytes, %d attributes each: heap held %d bytes, charged %d (%.1fx the payload bytes)",
		n, len(payload), attrs, held, charged, float64(charged)/float64(n*len(payload)))
	if attrs < 5000 {
		t.Fatalf("only %d attributes: not the hostile shape", attrs)
	}
	if int64(charged) < held {
		t.Fatalf("rows hold %d bytes on the heap but are charged %d: the budget undercounts", held, charged)
	}
	if int64(charged) > 3*held {
		t.Fatalf("charged %d for %d held: so far over that the budget starves throughput", charged, held)
	}
}
