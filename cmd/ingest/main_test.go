package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env points the ingester at a broker and a ClickHouse server through environment
// variables, as an operator would.
func env(t *testing.T, broker, chAddr, database string) string {
	t.Helper()
	port := testenv.FreePort(t)
	listen := "127.0.0.1:" + strconv.Itoa(port)
	vars := map[string]string{
		"FAULTLINE_KAFKA_BROKERS":            broker,
		"FAULTLINE_KAFKA_TOPIC":              "api-errors",
		"FAULTLINE_KAFKA_GROUP":              "cmd-test",
		"FAULTLINE_KAFKA_SESSION_TIMEOUT":    "3s",
		"FAULTLINE_KAFKA_HEARTBEAT_INTERVAL": "300ms",
		"FAULTLINE_CLICKHOUSE_ADDR":          chAddr,
		"FAULTLINE_CLICKHOUSE_DATABASE":      database,
		"FAULTLINE_CLICKHOUSE_DIAL_TIMEOUT":  "1s",
		"FAULTLINE_METRICS_LISTEN":           listen,
		"FAULTLINE_CATALOG_PATH":             filepath.Join(testenv.RepoRoot(t), "schema", "catalog.json"),
		"FAULTLINE_BATCH_MAX_AGE":            "100ms",
		"FAULTLINE_RETRY_FATAL_BACKOFF":      "200ms",
		"FAULTLINE_RETRY_MAX_BACKOFF":        "200ms",
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	return "http://" + listen
}

func execute(ctx context.Context, out io.Writer, args ...string) error {
	return executeErr(ctx, out, io.Discard, args...)
}

func executeErr(ctx context.Context, out, errOut io.Writer, args ...string) error {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(out)
	root.SetErr(errOut)
	return root.ExecuteContext(ctx)
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitStatus(t *testing.T, url string, want int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %d (%s), want %d", url, code, body, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestVersionOnEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"run", "--version"}, {"migrate", "--version"}} {
		var out strings.Builder
		// No broker, no ClickHouse: --version must answer without touching either.
		if err := execute(context.Background(), &out, args...); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got := out.String(); !strings.HasPrefix(got, "ingest version ") || !strings.Contains(got, "commit ") || !strings.Contains(got, "go1.") {
			t.Errorf("%v printed %q", args, got)
		}
	}
}

func TestServesMetricsHealthAndReadiness(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 2)
	srv := testenv.StartClickHouseServer(t)
	base := env(t, b.Addr, srv.Addr, "cmdtest")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- execute(ctx, io.Discard, "run") }()

	waitStatus(t, base+"/readyz", http.StatusOK)
	if code, body := get(base + "/healthz"); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	_, metrics := get(base + "/metrics")
	for _, want := range []string{
		`faultline_events_total{category="billing",environment="live",error_type="billing_not_verified",status_code="400"} 0`,
		`faultline_rejected_total{reason="not_json_object"} 0`,
		`faultline_catalog_info{`,
		`faultline_build_info{build_date="`,
		`,revision="`,
		`faultline_inflight_bytes_limit `,
		`faultline_inflight_wait_seconds_total 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// ClickHouse gone: not ready, and the body says why.
	srv.Stop()
	body := waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	if !strings.Contains(body, "clickhouse") {
		t.Fatalf("/readyz body %q does not name clickhouse", body)
	}
	srv.Start()
	waitStatus(t, base+"/readyz", http.StatusOK)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after SIGTERM-like cancel: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ingester did not stop within 30s of cancel")
	}
}

func TestDrainPrintsSummaryAndExits(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 3)
	ch := testenv.ClickHouse(t)
	env(t, b.Addr, ch.Addr, ch.Database)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: "api-errors", BatchTimeout: 5 * time.Millisecond, Transport: testenv.WriterTransport(t)}
	var msgs []kafka.Message
	for i := 0; i < 300; i++ {
		v := fmt.Sprintf(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified"}`, i)
		if i%10 == 0 {
			v = `not json`
		}
		msgs = append(msgs, kafka.Message{Value: []byte(v)})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := executeErr(ctx, &out, &errOut, "--drain"); err != nil {
		t.Fatalf("ingest --drain: %v", err)
	}
	// Not a terminal: plain progress lines, the last one complete.
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "drain: 300/300 messages (100%), ") || !strings.Contains(last, "ETA 0s") {
		t.Errorf("last progress line %q, want drain: 300/300 messages (100%%) ... ETA 0s", last)
	}
	if strings.Contains(errOut.String(), "\r") {
		t.Errorf("progress off a terminal redraws in place: %q", errOut.String())
	}
	for _, want := range []string{"consumed 300", "stored 270", "quarantined 30", "events/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary %q lacks %q", out.String(), want)
		}
	}
}

func TestStartupErrorsNameTheCause(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 1)
	cases := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"bad config value", map[string]string{"FAULTLINE_BATCH_MAX_ROWS": "many"}, "batch.max_rows"},
		{"unreachable clickhouse", map[string]string{"FAULTLINE_CLICKHOUSE_ADDR": "127.0.0.1:1"}, "127.0.0.1:1"},
		{"missing catalog", map[string]string{"FAULTLINE_CATALOG_PATH": "/nonexistent/catalog.json"}, "catalog.path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env(t, b.Addr, "127.0.0.1:9", "x")
			for k, v := range tc.set {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := execute(ctx, io.Discard, "run")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not name %q", err, tc.want)
			}
		})
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	ch := testenv.ClickHouse(t)
	env(t, "127.0.0.1:9", ch.Addr, ch.Database+"_m")
	migs, err := schema.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		var errOut bytes.Buffer
		if err := executeErr(context.Background(), io.Discard, &errOut, "migrate"); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		// The first run shows each migration as done/total; the second has nothing to do.
		want := fmt.Sprintf("migrate: %d/%d migrations (100%%), ", len(migs), len(migs))
		if i == 0 && (len(lines) != len(migs) || !strings.HasPrefix(lines[len(lines)-1], want)) {
			t.Errorf("first migrate progress %q, want %d lines ending %q...", errOut.String(), len(migs), want)
		}
		if i == 1 && errOut.Len() != 0 {
			t.Errorf("second migrate printed progress %q", errOut.String())
		}
	}
	var n uint64
	if err := ch.Conn.QueryRow(context.Background(), "SELECT count() FROM system.tables WHERE database = ?", ch.Database+"_m").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("%d tables after migrate", n)
	}
	_ = ch.Conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ch.Database+"_m")
}

// TestRetentionCommand: `ingest retention --dry-run` lists, `ingest retention` drops the day
// partitions past retention.events and leaves the rest.
func TestRetentionCommand(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	env(t, "127.0.0.1:9", ch.Addr, ch.Database)
	t.Setenv("FAULTLINE_RETENTION_EVENTS", "10d")
	if err := execute(ctx, io.Discard, "migrate"); err != nil {
		t.Fatal(err)
	}
	old := time.Now().UTC().AddDate(0, 0, -20)
	for _, ts := range []time.Time{old, time.Now().UTC()} {
		if err := ch.Conn.Exec(ctx, "INSERT INTO "+ch.Database+".events (event_time, ingested_at, error_type, status_code) SELECT toDateTime(?) AS t, t, 'billing_not_verified', 400", ts.Format("2006-01-02 15:04:05")); err != nil {
			t.Fatal(err)
		}
	}
	part := old.Format("20060102")
	var out strings.Builder
	if err := execute(ctx, &out, "retention", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	// The skip read's offsets of that row go with it (stored_offsets keeps the longer retention).
	if want := "would drop " + ch.Database + ".events partition " + part + " (1 rows)\n" +
		"would drop " + ch.Database + ".stored_offsets partition " + part + " (1 rows)\n"; out.String() != want {
		t.Fatalf("dry run printed %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := execute(ctx, &out, "retention"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "dropped "+ch.Database+".events partition "+part) {
		t.Fatalf("retention printed %q", out.String())
	}
	var n uint64
	if err := ch.Conn.QueryRow(ctx, "SELECT count() FROM "+ch.Database+".events").Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d events left (%v), want the recent one", n, err)
	}
	out.Reset()
	if err := execute(ctx, &out, "retention"); err != nil || out.String() != "nothing past retention\n" {
		t.Fatalf("second run: %q, %v", out.String(), err)
	}
}

// TestRequeueCommand: after the size limit is raised, a too_large message moves from
// quarantine to events; a dry run first only counts.
func TestRequeueCommand(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx := context.Background()
	env(t, "127.0.0.1:9", ch.Addr, ch.Database)
	if err := execute(ctx, io.Discard, "migrate"); err != nil {
		t.Fatal(err)
	}
	payload := `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-000000000001","error_type":"billing_not_verified","error_message":"` + strings.Repeat("x", 2000) + `"}`
	at := time.Now().UTC().Add(-time.Hour).Format("2006-01-02 15:04:05")
	if err := ch.Conn.Exec(ctx, "INSERT INTO "+ch.Database+".quarantine (received_at, reason, payload, kafka_topic, kafka_partition, kafka_offset, kafka_time) SELECT toDateTime(?), 'too_large', ?, 'api-errors', 3, 42, toDateTime(?)", at, payload, at); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := execute(ctx, &out, "requeue", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "examined 1 quarantined messages: would move to events 1, already in events 0, still rejected 0\n") {
		t.Fatalf("dry run printed %q", out.String())
	}
	out.Reset()
	if err := execute(ctx, &out, "requeue"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "examined 1 quarantined messages: moved to events 1,") || !strings.Contains(out.String(), "accepted now   too_large") {
		t.Fatalf("requeue printed %q", out.String())
	}
	var n uint64
	if err := ch.Conn.QueryRow(ctx, "SELECT count() FROM "+ch.Database+".events WHERE kafka_partition = 3 AND kafka_offset = 42 AND error_type = 'billing_not_verified'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("events holds the message %d times (%v), want once", n, err)
	}
}

// ingest replay re-reads a stored range under its own group and stores nothing twice; with
// --database it fills another database (migrated first).
func TestReplayCommand(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 2)
	ch := testenv.ClickHouse(t)
	other := testenv.ClickHouse(t)
	env(t, b.Addr, ch.Addr, ch.Database)
	w := &kafka.Writer{Addr: kafka.TCP(b.Addr), Topic: "api-errors", BatchTimeout: 5 * time.Millisecond, Transport: testenv.WriterTransport(t)}
	var msgs []kafka.Message
	for i := 0; i < 300; i++ {
		msgs = append(msgs, kafka.Message{Value: []byte(fmt.Sprintf(`{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-%012d","error_type":"billing_not_verified"}`, i))})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := executeErr(ctx, io.Discard, io.Discard, "--drain"); err != nil {
		t.Fatalf("ingest --drain: %v", err)
	}

	var out, errOut bytes.Buffer
	if err := executeErr(ctx, &out, &errOut, "replay", "--partition", "0"); err != nil {
		t.Fatalf("ingest replay: %v", err)
	}
	p0 := testenv.QueryInt(t, ch.Conn, "SELECT count() FROM "+ch.Database+".events WHERE kafka_partition = 0")
	for _, want := range []string{"stored 0 ", fmt.Sprintf("skipped %d ", p0)} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("replay summary %q lacks %q", out.String(), want)
		}
	}
	lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, fmt.Sprintf("replay: %d/%d messages (100%%)", p0, p0)) {
		t.Errorf("last progress line %q, want replay: %d/%d messages (100%%)", last, p0, p0)
	}
	if n := testenv.QueryInt(t, ch.Conn, "SELECT count() FROM "+ch.Database+".events"); n != 300 {
		t.Errorf("%d events after the replay, want 300", n)
	}

	out.Reset()
	if err := executeErr(ctx, &out, io.Discard, "replay", "--database", other.Database, "--from", "0", "--group", "fill-other"); err != nil {
		t.Fatalf("ingest replay --database: %v", err)
	}
	if n := testenv.QueryInt(t, other.Conn, "SELECT count() FROM "+other.Database+".events"); n != 300 {
		t.Errorf("%d events in %s, want 300", n, other.Database)
	}
	if err := executeErr(ctx, io.Discard, io.Discard, "replay", "--from", "yesterday"); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Errorf("replay --from yesterday: %v, want an error naming --from", err)
	}
}
