package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	for _, c := range []struct {
		done, total int64
		elapsed     time.Duration
		want        string
	}{
		{1200, 5000, 2 * time.Second, "drain: 1200/5000 messages (24%), 600 messages/s, ETA 6s, elapsed 2s"},
		{5000, 5000, 10 * time.Second, "drain: 5000/5000 messages (100%), 500 messages/s, ETA 0s, elapsed 10s"},
		{0, 5000, 3 * time.Second, "drain: 0/5000 messages (0%), 0 messages/s, ETA unknown, elapsed 3s"},
		{300, 0, 3 * time.Second, "drain: 300 messages, 100 messages/s, elapsed 3s"},
		{10, 1000, 0, "drain: 10/1000 messages (1%), 0 messages/s, ETA unknown, elapsed 0s"},
		{1, 3601, time.Second, "drain: 1/3601 messages (0%), 1 messages/s, ETA 1h0m0s, elapsed 1s"},
	} {
		if got := Line("drain", "messages", c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("Line(%d, %d, %s) =\n %q\nwant\n %q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
}

// TestPlainLines: off a terminal, a line at most every interval and one at the end.
func TestPlainLines(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	m := New(&buf, "migrate", "migrations", Options{Every: 5 * time.Second, Now: func() time.Time { return now }})
	for i := int64(1); i <= 20; i++ {
		now = now.Add(time.Second)
		m.Update(i*10, 200)
	}
	m.Finish() // the last line was printed at 20s: not again
	m.Finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		"migrate: 50/200 migrations (25%), 10 migrations/s, ETA 15s, elapsed 5s",
		"migrate: 100/200 migrations (50%), 10 migrations/s, ETA 10s, elapsed 10s",
		"migrate: 150/200 migrations (75%), 10 migrations/s, ETA 5s, elapsed 15s",
		"migrate: 200/200 migrations (100%), 10 migrations/s, ETA 0s, elapsed 20s",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", buf.String(), strings.Join(want, "\n"))
	}
	if strings.Contains(buf.String(), "\r") || strings.Contains(buf.String(), "\x1b") {
		t.Error("plain output holds terminal control characters")
	}
}

// TestTerminalBar: on a terminal the bar redraws in place (carriage returns) with count and rate.
func TestTerminalBar(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, "drain", "messages", Options{Terminal: true})
	m.Update(0, 1000)
	time.Sleep(250 * time.Millisecond) // past the bar's redraw throttle
	m.Update(500, 1000)
	m.Finish()
	out := buf.String()
	for _, want := range []string{"drain", "1000/1000", "messages/s", "\r"} {
		if !strings.Contains(out, want) {
			t.Errorf("bar output lacks %q: %q", want, out)
		}
	}
}

func TestFinishPrintsWhatWasNotShown(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	m := New(&buf, "drain", "messages", Options{Every: time.Minute, Now: func() time.Time { return now }})
	now = now.Add(2 * time.Second)
	m.Update(300, 300) // under a minute: no line yet
	m.Finish()
	if got := buf.String(); got != "drain: 300/300 messages (100%), 150 messages/s, ETA 0s, elapsed 2s\n" {
		t.Errorf("Finish printed %q", got)
	}
}
