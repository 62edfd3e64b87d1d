package testenv_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/segmentio/kafka-go"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestClickHouseAnswers(t *testing.T) {
	ch := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var version string
	if err := ch.Conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		t.Fatalf("SELECT version(): %v", err)
	}
	if !strings.HasPrefix(version, "18.16") {
		t.Errorf("version() = %q, want 18.16.x", version)
	}

	var db string
	if err := ch.Conn.QueryRow(ctx, "SELECT currentDatabase()").Scan(&db); err != nil {
		t.Fatalf("SELECT currentDatabase(): %v", err)
	}
	if db != ch.Database {
		t.Errorf("currentDatabase() = %q, want %q", db, ch.Database)
	}

	// The users file must enable LowCardinality on 18.16.
	if err := ch.Conn.Exec(ctx, "CREATE TABLE lc (s LowCardinality(String)) ENGINE = MergeTree ORDER BY s"); err != nil {
		t.Fatalf("create LowCardinality table: %v", err)
	}

	resp, err := http.Get("http://" + ch.HTTPAddr + "/ping")
	if err != nil {
		t.Fatalf("HTTP ping: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.TrimSpace(string(body)) != "Ok." {
		t.Errorf("HTTP /ping = %q, want Ok.", body)
	}
}

func TestClickHouseDatabasesAreSeparate(t *testing.T) {
	a, b := testenv.ClickHouse(t), testenv.ClickHouse(t)
	if a.Database == b.Database {
		t.Fatalf("two calls returned the same database %q", a.Database)
	}
	if a.Addr != b.Addr {
		t.Errorf("expected one shared server, got %s and %s", a.Addr, b.Addr)
	}
}

func TestClickHouseServerRestart(t *testing.T) {
	srv := testenv.StartClickHouseServer(t)
	exec := func(q string) {
		t.Helper()
		out, err := clickhouseHTTP(srv.HTTPAddr, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		_ = out
	}
	exec("CREATE TABLE default.kept (x UInt32) ENGINE = MergeTree ORDER BY x")
	exec("INSERT INTO default.kept SELECT number FROM system.numbers LIMIT 10")

	srv.Stop()
	if _, err := clickhouseHTTP(srv.HTTPAddr, "SELECT 1"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	srv.Start()
	srv.Kill()
	srv.Start()

	out, err := clickhouseHTTP(srv.HTTPAddr, "SELECT count() FROM default.kept")
	if err != nil {
		t.Fatalf("count after restarts: %v", err)
	}
	if strings.TrimSpace(out) != "10" {
		t.Errorf("count after restarts = %q, want 10", out)
	}

	// The read-only user can read but not write.
	if _, err := clickhouseHTTP(srv.HTTPAddr, "SELECT count() FROM default.kept", "user=faultline_ro"); err != nil {
		t.Errorf("faultline_ro cannot read: %v", err)
	}
	if _, err := clickhouseHTTP(srv.HTTPAddr, "INSERT INTO default.kept VALUES (1)", "user=faultline_ro"); err == nil {
		t.Error("faultline_ro could insert")
	}
}

func clickhouseHTTP(addr, query string, params ...string) (string, error) {
	url := "http://" + addr + "/"
	if len(params) > 0 {
		url += "?" + strings.Join(params, "&")
	}
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url, "text/plain", strings.NewReader(query))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, body)
	}
	return string(body), nil
}

func TestBrokerRoundTrip(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 6)
	produce(t, b.Addr, "api-errors", 0, 50)
	got := consume(t, b.Addr, "api-errors", "g1", 50)
	checkAll(t, got, 50)
}

func TestBrokerProcessRestartKeepsData(t *testing.T) {
	b := testenv.StartBrokerProcess(t, t.TempDir())
	produce(t, b.Addr, "api-errors", 0, 20)
	b.Stop()
	b.Start()
	produce(t, b.Addr, "api-errors", 20, 20)
	b.Kill()
	b.Start()
	got := consume(t, b.Addr, "api-errors", "g1", 40)
	checkAll(t, got, 40)
}

func produce(t *testing.T, addr, topic string, from, n int) {
	t.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(addr),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireAll,
	}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte(fmt.Sprint(from + i)), Value: []byte(fmt.Sprintf("m%d", from+i))}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce to %s: %v", addr, err)
	}
}

func consume(t *testing.T, addr, topic, group string, n int) map[string]int {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:     []string{addr},
		Topic:       topic,
		GroupID:     group,
		StartOffset: kafka.FirstOffset,
		MaxWait:     time.Second,
	})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			t.Fatalf("consume from %s after %d of %d messages: %v", addr, i, n, err)
		}
		got[string(m.Value)]++
		if err := r.CommitMessages(ctx, m); err != nil {
			t.Fatalf("commit: %v", err)
		}
	}
	return got
}

func checkAll(t *testing.T, got map[string]int, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if c := got[fmt.Sprintf("m%d", i)]; c != 1 {
			t.Errorf("message m%d seen %d times, want 1", i, c)
		}
	}
}

func TestPrometheusReady(t *testing.T) {
	p := testenv.Prometheus(t, "global:\n  scrape_interval: 1s\nscrape_configs: []\n")
	resp, err := http.Get(p.URL + "/-/ready")
	if err != nil {
		t.Fatalf("GET /-/ready: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/-/ready: %s", resp.Status)
	}
}

func TestCHDBVersion(t *testing.T) {
	s := testenv.CHDB(t)
	out, err := s.Query("SELECT version()", "TSV")
	if err != nil {
		t.Fatalf("SELECT version(): %v", err)
	}
	if !strings.HasPrefix(strings.TrimSpace(out), "26.") {
		t.Errorf("chDB version() = %q, want 26.x", out)
	}
	// Modern dialect that 18.16 lacks.
	if err := s.Exec("CREATE DATABASE IF NOT EXISTS testenv_chdb"); err != nil {
		t.Fatal(err)
	}
	if err := s.Exec("CREATE TABLE testenv_chdb.t (ts DateTime64(3), v UInt8 CODEC(ZSTD)) ENGINE = MergeTree ORDER BY ts TTL toDateTime(ts) + INTERVAL 1 DAY"); err != nil {
		t.Fatalf("modern DDL: %v", err)
	}
	if err := s.Exec("SELECT nope"); err == nil {
		t.Error("a bad query returned no error")
	}
}
