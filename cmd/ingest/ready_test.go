package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultline/faultline/internal/testenv"
)

// Inserts that keep failing with a retryable error while ClickHouse itself answers (here
// TOO_MANY_PARTS: events allows two parts and its merges are stopped) make /readyz answer
// not ready after retry.unready_after, naming the table and the server's error; once merges
// make room, the held rows are stored, exactly once, and /readyz is ready again.
func TestNotReadyWhileInsertsKeepFailing(t *testing.T) {
	b := testenv.Broker(t, "api-errors", 1)
	ch := testenv.ClickHouse(t)
	base := env(t, b.Addr, ch.Addr, ch.Database)
	t.Setenv("FAULTLINE_RETRY_UNREADY_AFTER", "2s")
	t.Setenv("FAULTLINE_BATCH_MAX_ROWS", "100")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := execute(ctx, io.Discard, "migrate"); err != nil {
		t.Fatalf("ingest migrate: %v", err)
	}
	exec := func(q string) {
		t.Helper()
		if err := ch.Conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	// events again, with room for two parts: the views that read it follow its name.
	var ddl string
	if err := ch.Conn.QueryRow(ctx, "SHOW CREATE TABLE events").Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	db := ch.Database
	ddl = strings.Replace(ddl, db+".events ", db+".events_narrow ", 1)
	if strings.Contains(ddl, " SETTINGS ") {
		ddl += ", parts_to_delay_insert = 1, parts_to_throw_insert = 2"
	} else {
		ddl += " SETTINGS parts_to_delay_insert = 1, parts_to_throw_insert = 2"
	}
	exec(ddl)
	exec("RENAME TABLE " + db + ".events TO " + db + ".events_wide, " + db + ".events_narrow TO " + db + ".events")
	exec("SYSTEM STOP MERGES " + db + ".events")

	const n = 500
	testenv.ProduceBodies(t, b.Addr, "api-errors", n)

	done := make(chan error, 1)
	go func() { done <- execute(ctx, io.Discard, "run") }()
	body := waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	for !strings.Contains(body, "have failed for") {
		// Until the first readiness check has run, the body says "not checked yet".
		time.Sleep(100 * time.Millisecond)
		body = waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	}
	for _, want := range []string{"inserts into events have failed for", "retry.unready_after 2s", "Too many parts"} {
		if !strings.Contains(body, want) {
			t.Errorf("/readyz body %q lacks %q", body, want)
		}
	}

	exec("SYSTEM START MERGES " + db + ".events")
	deadline := time.Now().Add(60 * time.Second)
	var stored, offsets uint64
	for {
		// Every merge makes room for one more insert; drive them rather than wait for the
		// server's background schedule.
		exec("OPTIMIZE TABLE " + db + ".events FINAL")
		if err := ch.Conn.QueryRow(ctx, "SELECT count(), uniqExact(kafka_offset) FROM events").Scan(&stored, &offsets); err != nil {
			t.Fatal(err)
		}
		if stored >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if stored != n || offsets != n {
		t.Fatalf("events holds %d rows on %d offsets, want %d on %d", stored, offsets, n, n)
	}
	waitStatus(t, base+"/readyz", http.StatusOK)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ingest run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("ingest run did not stop")
	}
}
