package pipeline

import (
	"context"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A transactional producer commits some transactions and aborts others. Their commit and
// abort markers, which kafka-go hands out as records, are skipped and counted, never
// quarantined as not_json_object. kafka-go v0.4.51 cannot tell records of aborted
// transactions apart (it ignores the isolation level), so they are stored: this test pins
// that known limit, which the README states.
func TestTransactionMarkersAreSkipped(t *testing.T) {
	h := newHarness(t, 1)
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.broker), kgo.DefaultProduceTopic(h.topic), kgo.TransactionalID("faultline-test-tx"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	body := `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified","error_message":"tx `
	committed, aborted := 0, 0
	for txn := 0; txn < 5; txn++ {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(body + strconv.Itoa(txn) + `"}`)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		commit := txn%2 == 0
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		if commit {
			committed += 10
		} else {
			aborted += 10
		}
	}
	inst, sum := h.drain("txn")
	if sum.Markers != 5 {
		t.Fatalf("summary %+v: %d markers skipped, want 5 (one per transaction)", sum, sum.Markers)
	}
	if got := testutil.ToFloat64(inst.m.Skipped.WithLabelValues(skipTransactionMarker)); got != 5 {
		t.Fatalf("messages_skipped_total{reason=transaction_marker} = %v, want 5", got)
	}
	db := h.ch.Database
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".quarantine"); n != 0 {
		t.Fatalf("%d messages quarantined, want none (markers are not garbage)", n)
	}
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events"); n != int64(committed+aborted) {
		t.Fatalf("events %d, want %d: committed %d and, a kafka-go limit, aborted %d", n, committed+aborted, committed, aborted)
	}
}

func TestIsTransactionMarker(t *testing.T) {
	for _, tc := range []struct {
		name       string
		key, value []byte
		want       bool
	}{
		{"commit", []byte{0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 3}, true},
		{"abort", []byte{0, 0, 0, 0}, []byte{0, 0, 0, 0, 0, 0}, true},
		{"an event", nil, []byte(`{"status_code":400}`), false},
		{"4-byte key, event value", []byte{0, 0, 0, 1}, []byte(`{"a":1}`), false},
		{"other control type", []byte{0, 0, 0, 2}, []byte{0, 0, 0, 0, 0, 0}, false},
		{"empty", nil, nil, false},
	} {
		if got := isTransactionMarker(tc.key, tc.value); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
