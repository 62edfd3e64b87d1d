package pipeline

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/faultline/faultline/internal/testenv"
)

// produceTimed writes values with exactly the given record timestamps (kafka-go's Writer
// replaces a zero time with now, so this uses franz-go's client, as other producers would).
func (h *harness) produceTimed(times []time.Time, values []string) {
	h.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.broker), kgo.DefaultProduceTopic(h.topic))
	if err != nil {
		h.t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Value: []byte(v), Timestamp: times[i]})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		h.t.Fatal(err)
	}
}

// A record time in microseconds and a record time of 0 with an envelope in year 2200 used to
// make clickhouse-go refuse every batch they were in, forever. Now they are flagged and
// stored with a usable time, and the messages behind them are stored too.
func TestUnstorableTimesDoNotStopThePipeline(t *testing.T) {
	h := newHarness(t, 1)
	body := `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified"`
	now := time.Now()
	var times []time.Time
	var values []string
	times = append(times, time.UnixMilli(now.UnixMicro())) // microseconds written as milliseconds
	values = append(values, body+`,"error_message":"micro"}`)
	times = append(times, time.UnixMilli(0))
	values = append(values, body+`,"error_message":"epoch","timestamp":"2200-01-01T00:00:00Z"}`)
	for i := 0; i < 205; i++ {
		times = append(times, now)
		values = append(values, body+`,"error_message":"behind `+strconv.Itoa(i)+`"}`)
	}
	h.produceTimed(times, values)
	_, sum := h.drain("hostile-times")
	if sum.Stored != 207 || sum.Quarantined != 0 {
		t.Fatalf("summary %+v, want 207 stored", sum)
	}
	db := h.ch.Database
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events WHERE has(flags, 'bad_timestamp') AND has(attr_keys, 'kafka_timestamp') AND error_message IN ('micro', 'epoch') AND abs(toInt64(event_time) - toInt64(now())) < 600"); n != 2 {
		t.Fatalf("flagged rows with a usable time = %d, want 2", n)
	}
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events WHERE error_message = 'epoch' AND has(attr_keys, 'timestamp') AND kafka_time = toDateTime(0)"); n != 1 {
		t.Fatalf("envelope time kept as attribute and kafka_time 1970: %d rows, want 1", n)
	}
	// The record time as kafka-go delivered it (clients disagree on how they carry such a
	// timestamp in a batch, so only its being past the storable range is asserted).
	if n := h.queryInt("SELECT toUInt64(count()) FROM " + db + ".events WHERE error_message = 'micro' AND toInt64OrZero(attr_values[indexOf(attr_keys, 'kafka_timestamp')]) > 4291747199000"); n != 1 {
		t.Fatalf("original record time kept: %d rows, want 1 (%v)", n, testenv.QueryCounts(t, h.conn(), "SELECT arrayStringConcat(attr_values, ','), toUInt64(1) FROM "+db+".events WHERE error_message = 'micro'"))
	}
}
