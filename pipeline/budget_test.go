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

// The budget charges what a message costs once decoded, not its bytes: measured on the heap,
// rows of tiny-keys messages hold no more than they are charged, both on their way to the
// batcher (decoded Rows) and once in a batch (its column buffers; the batcher gives back
// the part of the charge the decoded event held).
func TestDecodedCostIsCharged(t *testing.T) {
	checker := event.NewChecker(mustCatalog(t), event.Options{})
	payload := tinyKeys()
	const n = 40
	within := func(what string, charged int, held int64) {
		t.Helper()
		t.Logf("%s: %d messages of %d bytes: heap held %d bytes, charged %d (%.1fx the payload bytes)",
			what, n, len(payload), held, charged, float64(charged)/float64(n*len(payload)))
		if int64(charged) < held {
			t.Fatalf("%s: rows hold %d bytes on the heap but are charged %d: the budget undercounts", what, held, charged)
		}
		if int64(charged) > 3*held {
			t.Fatalf("%s: charged %d for %d held: so far over that the budget starves throughput", what, charged, held)
		}
	}
	// The heap is the whole process's: goroutines an earlier test left finishing can free
	// or allocate during the measurement, so it is taken up to three times, and one
	// measurement must fall within the bounds.
	var (
		rows    []*Row
		charged int
		decoded int64
	)
	for try := 0; try < 3; try++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		rows = make([]*Row, n)
		charged = 0
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
		runtime.GC()
		runtime.ReadMemStats(&after)
		decoded = int64(after.HeapAlloc) - int64(before.HeapAlloc)
		if int64(charged) >= decoded && int64(charged) <= 3*decoded {
			break
		}
		t.Logf("measurement %d: heap held %d bytes for %d charged; measuring again", try+1, decoded, charged)
	}
	if attrs := len(rows[0].Event.Attributes); attrs < 5000 {
		t.Fatalf("only %d attributes: not the hostile shape", attrs)
	}
	within("decoded rows", charged, decoded)

	// In a batch, what rows hold is the column buffers' capacity (the heap is not a steady
	// measure here: the decoded Rows are freed at the same time).
	b := (&Sink{}).Begin()
	charged = 0
	for i, r := range rows {
		charged += b.Append(r)
		rows[i] = nil // as the batcher hands the Row back
	}
	within("in a batch", charged, int64(b.bufs.ev.bytes()+b.bufs.q.bytes()))
}
