// Package progress shows how far long work has come (ingest --drain, ingest migrate, loadgen
// history and counted runs): done/total, rate and ETA. On a terminal it draws a bar with
// github.com/schollz/progressbar; anywhere else (CI logs, files, pipes) it prints a plain line
// every few seconds, so logs stay readable.
package progress

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Meter follows one piece of work. Update may be called as often as wanted; a Meter is safe
// for one updating goroutine plus Finish.
type Meter struct {
	w     io.Writer
	what  string
	unit  string
	every time.Duration
	now   func() time.Time

	mu        sync.Mutex
	bar       *progressbar.ProgressBar
	start     time.Time
	lastPrint time.Time
	done      int64
	total     int64
	printed   bool // the current done/total is the last line printed
	finished  bool
}

// Options of a Meter.
type Options struct {
	// Terminal draws a bar; false prints plain lines (see IsTerminal).
	Terminal bool
	// Every is the interval between plain lines (default 5 s).
	Every time.Duration
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// IsTerminal reports whether f is a character device (a terminal, not a pipe or a file).
func IsTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// New starts a Meter of what (e.g. "drain"), counting unit (e.g. "messages"), writing to w.
func New(w io.Writer, what, unit string, o Options) *Meter {
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Meter{w: w, what: what, unit: unit, every: o.Every, now: o.Now}
	m.start = o.Now()
	m.lastPrint = m.start
	if o.Terminal {
		m.bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowElapsedTimeOnFinish(),
		)
	}
	return m
}

// Update reports done of total (total 0 or less: not known yet).
func (m *Meter) Update(done, total int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return
	}
	if done != m.done || total != m.total {
		m.printed = false
	}
	m.done, m.total = done, total
	if m.bar != nil {
		if total > 0 && total != m.bar.GetMax64() {
			m.bar.ChangeMax64(total)
		}
		_ = m.bar.Set64(done)
		return
	}
	now := m.now()
	if now.Sub(m.lastPrint) >= m.every {
		m.lastPrint, m.printed = now, true
		fmt.Fprintln(m.w, Line(m.what, m.unit, done, total, now.Sub(m.start)))
	}
}

// Finish ends the bar, or prints the last line unless it was just printed; once.
func (m *Meter) Finish() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finished {
		return
	}
	m.finished = true
	if m.bar != nil {
		_ = m.bar.Finish()
		fmt.Fprintln(m.w)
		return
	}
	if !m.printed {
		fmt.Fprintln(m.w, Line(m.what, m.unit, m.done, m.total, m.now().Sub(m.start)))
	}
}

// Line is the plain progress line: "drain: 1200/5000 messages (24%), 600 messages/s, ETA 6s,
// elapsed 2s". Without a total it shows the count and rate only.
func Line(what, unit string, done, total int64, elapsed time.Duration) string {
	rate := 0.0
	if elapsed > 0 {
		rate = float64(done) / elapsed.Seconds()
	}
	el := elapsed.Round(time.Second)
	if total <= 0 {
		return fmt.Sprintf("%s: %d %s, %.0f %s/s, elapsed %s", what, done, unit, rate, unit, el)
	}
	pct := 100 * float64(done) / float64(total)
	eta := "unknown"
	switch {
	case done >= total:
		eta = "0s"
	case rate > 0:
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%s: %d/%d %s (%.0f%%), %.0f %s/s, ETA %s, elapsed %s", what, done, total, unit, pct, rate, unit, eta, el)
}
