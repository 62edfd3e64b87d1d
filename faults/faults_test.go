package faults

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/internal/testenv"
)

// newRand returns a seeded source of randomness for fault timing; the seed is logged so a
// failing run can be replayed.
func newRand(t *testing.T) (*mrand.Rand, uint64) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("fault timing seed %d", seed)
	return mrand.New(mrand.NewPCG(seed, 0x5eed)), seed
}

// SIGKILL of the ingester at random moments while traffic flows, restarted each time. A
// killed member's rows may be stored without their offsets committed; the next owner must
// skip them, and nothing it had only read may be lost.
func TestIngesterSIGKILLedRepeatedly(t *testing.T) {
	r := newRig(t, rigOptions{})
	rng, seed := newRand(t)
	start := time.Now()
	prod := r.startProducing(seed, 6000, 0)

	const kills = 5
	ing := r.startAndWait(nil)
	var notes []string
	for i := range kills {
		// Kill once the ingester is consuming, after a random delay: sometimes in the backlog
		// it inherited from the dead member, sometimes at the pace of production.
		waitUntil(t, 60*time.Second, ing.name+" consumes", func() (bool, string) {
			return ing.mustScrape(t).sum("faultline_messages_consumed_total") > 0, "no message consumed yet"
		})
		time.Sleep(100*time.Millisecond + time.Duration(rng.Int64N(int64(2500*time.Millisecond))))
		m := ing.mustScrape(t)
		lag, err := r.lag()
		if err != nil {
			t.Fatal(err)
		}
		ing.kill()
		if b := m.sum("faultline_ledger_breaches_total"); b != 0 {
			t.Fatalf("%s: ledger breaches %v", ing.name, b)
		}
		// The kill must leave work behind: messages in the topic not yet committed.
		if lag <= 0 {
			t.Fatalf("kill %d: the group had committed everything; the kill found no work in progress", i+1)
		}
		notes = append(notes, fmt.Sprintf("kill %d at %s: %s had consumed %.0f, uncommitted %d",
			i+1, time.Since(start).Round(100*time.Millisecond), ing.name, m.sum("faultline_messages_consumed_total"), lag))
		ing = r.startAndWait(nil)
	}
	st := prod.stop(r)
	rep := r.finish(ing)
	v := r.verify()
	for _, n := range notes {
		t.Log(n)
	}
	t.Logf("RESULT sigkill: %d messages (%d events, %d quarantined) produced at %.0f/s over %s; %d SIGKILLs; %d assignments skipped rows stored but uncommitted; catch-up after the last restart %s; drain: %s; exactly once: ok",
		v.Messages, v.Events, v.Quarantined, st.Rate(), st.Elapsed.Round(time.Second), kills, r.skips(), rep.CatchUp.Round(100*time.Millisecond), rep.Drain)
}

// ClickHouse stopped for more than 30 s while the ingester runs and production continues:
// the ingester retries, holds its in-flight bytes under the configured bound (asserted on
// every scrape, with its RSS), and catches up by itself when the server is back.
func TestClickHouseOutage(t *testing.T) {
	r := newRig(t, rigOptions{ownClickHouse: true})
	_, seed := newRand(t)
	const outage = 32 * time.Second
	// The defaults, as issue 10 asks: batch.max_inflight_bytes 24 MiB, batch.max_bytes 16 MiB,
	// one insert at a time, and ingest.memory_limit auto (104 MiB of Go runtime memory). RSS
	// adds what the runtime does not count: the mapped executable (about 20 MB of its text and
	// data get touched) and freed pages not yet returned to the OS.
	// The rig's small, young batches are put back to the defaults too, so that what stops the
	// reading is the in-flight bound, not 5,000-row batches waiting for the insert.
	def := defaults(t)
	inflightLimit := float64(def.Batch.MaxInflightBytes)
	env := map[string]string{
		"FAULTLINE_BATCH_MAX_ROWS": strconv.Itoa(def.Batch.MaxRows),
		"FAULTLINE_BATCH_MAX_AGE":  def.Batch.MaxAge.String(),
	}
	r.produce(seed, 30000)
	ing := r.startAndWait(env)
	prod := r.startProducing(seed+1, 3000, 0)
	waitUntil(t, 60*time.Second, ing.name+" stores rows", func() (bool, string) {
		return ing.mustScrape(t).sum("faultline_rows_stored_total") > 0, "nothing stored yet"
	})
	time.Sleep(2 * time.Second)
	var baseRSS int64
	for range 5 {
		rss, err := ing.rssBytes()
		if err != nil {
			t.Fatal(err)
		}
		baseRSS = max(baseRSS, rss)
		time.Sleep(200 * time.Millisecond)
	}
	if baseRSS > rssBound {
		t.Fatalf("RSS %s > bound %s while catching up before the outage", mib(float64(baseRSS)), mib(rssBound))
	}

	r.chSrv.Stop()
	down := time.Now()
	var (
		maxInflight, limit float64
		maxRSS             int64
		samples            int
		lagStart           int64   = -1
		consumedMid        float64 = -1
		consumedAtStop             = ing.mustScrape(t).sum("faultline_messages_consumed_total")
	)
	for time.Since(down) < outage {
		m := ing.mustScrape(t)
		if consumedMid < 0 && time.Since(down) >= outage/2 {
			consumedMid = m.sum("faultline_messages_consumed_total")
		}
		rss, err := ing.rssBytes()
		if err != nil {
			t.Fatalf("%s: %v (exited: %v)", ing.name, err, ing.exited())
		}
		inflight := m.sum("faultline_inflight_bytes")
		limit = m.sum("faultline_inflight_bytes_limit")
		if limit != inflightLimit {
			t.Fatalf("faultline_inflight_bytes_limit = %v, want %v", limit, inflightLimit)
		}
		if inflight > limit {
			t.Fatalf("%s after outage start: faultline_inflight_bytes %v > limit %v", time.Since(down).Round(time.Millisecond), inflight, limit)
		}
		if rss > rssBound {
			t.Fatalf("%s after outage start: RSS %s > bound %s", time.Since(down).Round(time.Millisecond), mib(float64(rss)), mib(rssBound))
		}
		maxInflight = max(maxInflight, inflight)
		maxRSS = max(maxRSS, rss)
		samples++
		if lagStart < 0 {
			if lagStart, err = r.lag(); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	m := ing.mustScrape(t)
	insertErrors := m.sum("faultline_insert_errors_total")
	retries := m.sum("faultline_insert_retries_total")
	lagEnd, err := r.lag()
	if err != nil {
		t.Fatal(err)
	}
	consumedEnd := m.sum("faultline_messages_consumed_total")
	// The outage really hit: inserts failed, the ingester stopped reading (what it holds is
	// bounded) and the backlog grew in Kafka instead of in the ingester.
	if insertErrors == 0 && retries == 0 {
		t.Fatalf("no insert error or retry during a %s outage", outage)
	}
	if consumedEnd != consumedMid {
		t.Fatalf("the ingester went on reading in the second half of the outage: consumed %.0f -> %.0f", consumedMid, consumedEnd)
	}
	if lagEnd <= lagStart {
		t.Fatalf("uncommitted messages went from %d to %d during the outage: no backlog built", lagStart, lagEnd)
	}
	r.chSrv.Start()
	upAt := time.Now()
	downFor := upAt.Sub(down)
	time.Sleep(5 * time.Second)
	st := prod.stop(r)
	// Catches up by itself: the same process, no restart.
	finishing := time.Now()
	rep := r.finish(ing)
	catchUp := finishing.Sub(upAt) + rep.CatchUp
	v := r.verify()
	t.Logf("RESULT clickhouse outage: %d messages (%d events, %d quarantined); ClickHouse down %s while producing %.0f/s; %d scrapes during the outage: max faultline_inflight_bytes %s of limit %s, max RSS %s (before the outage %s, bound %s); insert errors %.0f, retries %.0f; read %.0f messages during the outage, none in its second half; uncommitted messages %d -> %d; caught up %s after restart (incl. 5 s more production); drain: %s; exactly once: ok",
		v.Messages, v.Events, v.Quarantined, downFor.Round(100*time.Millisecond), st.Rate(), samples, mib(maxInflight), mib(limit),
		mib(float64(maxRSS)), mib(float64(baseRSS)), mib(rssBound), insertErrors, retries, consumedEnd-consumedAtStop, lagStart, lagEnd, catchUp.Round(100*time.Millisecond), rep.Drain)
}

// The dev broker stopped (SIGTERM) or killed (SIGKILL) mid-stream and started again on its
// data dir, several times: the ingester rejoins by itself and nothing is lost or doubled.
func TestBrokerRestarts(t *testing.T) {
	r := newRig(t, rigOptions{brokerProcess: true})
	_, seed := newRand(t)
	ing := r.startAndWait(nil)
	var notes []string
	for i, how := range []string{"SIGTERM", "SIGKILL", "SIGTERM"} {
		before := ing.mustScrape(t).sum("faultline_messages_consumed_total")
		r.produce(seed+uint64(i)*100, 40000)
		extra := uint64(0)
		var lag int64
		// Restart while the ingester is inside the new messages and some are uncommitted.
		waitUntil(t, 60*time.Second, ing.name+" is mid-stream", func() (bool, string) {
			if ing.mustScrape(t).sum("faultline_messages_consumed_total") <= before {
				return false, "not consuming yet"
			}
			var err error
			if lag, err = r.lag(); err != nil {
				return false, err.Error()
			}
			if lag == 0 {
				// It caught up before we looked: give it more to chew on.
				extra++
				r.produce(seed+uint64(i)*100+extra, 20000)
				return false, "caught up"
			}
			return true, ""
		})
		if how == "SIGKILL" {
			r.bp.Kill()
		} else {
			r.bp.Stop()
		}
		// Long enough for fetches, heartbeats and commits to fail and the session to lapse.
		time.Sleep(4 * time.Second)
		r.bp.Start()
		up := time.Now()
		if ing.exited() {
			t.Fatalf("%s exited when the broker went away: %v\n%s", ing.name, ing.exitErr, tail(ing.logPath, 20))
		}
		// The same process rejoins and catches up by itself before the next fault.
		r.waitCaughtUp(2*time.Minute, ing)
		notes = append(notes, fmt.Sprintf("broker %s with %d messages uncommitted, caught up %s after the restart",
			how, lag, time.Since(up).Round(100*time.Millisecond)))
	}
	r.produce(seed+1000, 30000)
	m := ing.mustScrape(t)
	rep := r.finish(ing) // the same process rejoins and catches up by itself
	rebalances := m.sum("faultline_rebalances_total")
	if rebalances < 2 {
		t.Fatalf("%s joined %v generations across 3 broker restarts", ing.name, rebalances)
	}
	v := r.verify()
	for _, n := range notes {
		t.Log(n)
	}
	t.Logf("RESULT broker restarts: %d messages (%d events, %d quarantined); 3 broker restarts (%s); ingester generations joined %.0f; rejoins logged %d; %d assignments skipped stored-but-uncommitted rows; catch-up %s; drain: %s; exactly once: ok",
		v.Messages, v.Events, v.Quarantined, strings.Join(notes, "; "), rebalances, ing.logCount("consumer group error; rejoining"), r.skips(), rep.CatchUp.Round(100*time.Millisecond), rep.Drain)
}

// A second ingester joins the group mid-stream and leaves (SIGTERM), a third joins and dies
// (SIGKILL): rebalances both ways, with production running throughout.
func TestSecondIngesterJoinsAndLeaves(t *testing.T) {
	r := newRig(t, rigOptions{})
	_, seed := newRand(t)
	prod := r.startProducing(seed, 7000, 0)
	a := r.startAndWait(nil)
	owns := func(p *ingestProc, cond func(float64) bool, what string) {
		t.Helper()
		waitUntil(t, 60*time.Second, p.name+" "+what, func() (bool, string) {
			if p.exited() {
				t.Fatalf("%s exited: %v\n%s", p.name, p.exitErr, tail(p.logPath, 20))
			}
			m := p.mustScrape(t)
			n := m.sum("faultline_assigned_partitions")
			return cond(n) && m.sum("faultline_messages_consumed_total") > 0, fmt.Sprintf("assigned %v", n)
		})
	}
	all := func(n float64) bool { return n == partitions }
	some := func(n float64) bool { return n > 0 && n < partitions }
	owns(a, all, "owns every partition")
	time.Sleep(2 * time.Second)

	// Join: the partitions are split; a flushes what it gives up before handing it over.
	b := r.startAndWait(nil)
	owns(b, some, "owns some partitions and consumes")
	owns(a, some, "gave partitions up")
	time.Sleep(4 * time.Second)
	consumedB := b.mustScrape(t).sum("faultline_messages_consumed_total")
	// Leave, gracefully: b flushes, commits and leaves; a takes everything back.
	b.stop(t)
	owns(a, all, "owns every partition again after b left")
	time.Sleep(2 * time.Second)

	// Join, then crash: c's partitions come back to a after the session timeout.
	c := r.startAndWait(nil)
	owns(c, some, "owns some partitions and consumes")
	time.Sleep(3 * time.Second)
	lag, err := r.lag()
	if err != nil {
		t.Fatal(err)
	}
	consumedC := c.mustScrape(t).sum("faultline_messages_consumed_total")
	c.kill()
	owns(a, all, "owns every partition again after c died")
	time.Sleep(2 * time.Second)
	st := prod.stop(r)

	m := a.mustScrape(t)
	rebalances := m.sum("faultline_rebalances_total")
	// a joined at start, on b's join and leave, on c's join and on c's removal.
	if rebalances < 5 {
		t.Fatalf("%s joined %v generations, want at least 5 (start, b joins, b leaves, c joins, c dies)", a.name, rebalances)
	}
	revokes := m.sum("faultline_flushes_total", "trigger", "revoke")
	rep := r.finish(a)
	v := r.verify()
	t.Logf("RESULT rebalances: %d messages (%d events, %d quarantined) produced at %.0f/s; b joined, consumed %.0f and left by SIGTERM; c joined, consumed %.0f and was SIGKILLed with %d messages uncommitted; a joined %.0f generations, flushed on revoke %.0f times; %d assignments skipped stored-but-uncommitted rows; catch-up %s; drain: %s; exactly once: ok",
		v.Messages, v.Events, v.Quarantined, st.Rate(), consumedB, consumedC, lag, rebalances, revokes, r.skips(), rep.CatchUp.Round(100*time.Millisecond), rep.Drain)
}

// Rows the server refuses (a MATERIALIZED throwIf check column on events) mixed into normal
// traffic at scale, with a SIGKILL of the ingester in the middle: each refused row goes to
// quarantine as server_rejected with the server's message, every other row of its batch is
// stored, and nothing is doubled.
func TestServerRejectedRowsAtScale(t *testing.T) {
	r := newRig(t, rigOptions{})
	_, seed := newRand(t)
	r.addPoisonColumn()
	ing := r.startAndWait(nil)
	const chunks = 8
	killed := false
	var lagAtKill int64
	for i := range chunks {
		r.produce(seed+uint64(i), 18000)
		r.producePoison(1 + i%4)
		if i == chunks/2 {
			// Wait until it is busy with this chunk (splitting batches around poison rows),
			// then kill it.
			waitUntil(t, 60*time.Second, ing.name+" is mid-stream", func() (bool, string) {
				var err error
				lagAtKill, err = r.lag()
				if err != nil {
					return false, err.Error()
				}
				return lagAtKill > 0 && ing.mustScrape(t).sum("faultline_insert_errors_total", "class", "data") > 0, "no data error yet"
			})
			ing.kill()
			killed = true
			ing = r.startAndWait(nil)
		}
	}
	if !killed {
		t.Fatal("no kill")
	}
	rep := r.finish(ing)
	v := r.verify()
	t.Logf("RESULT server-rejected rows: %d messages (%d events, %d quarantined, %d of them poison rows the server refused), one SIGKILL mid-stream with %d uncommitted; catch-up %s; drain: %s; exactly once: ok",
		v.Messages, v.Events, v.Quarantined, v.ServerRejected, lagAtKill, rep.CatchUp.Round(100*time.Millisecond), rep.Drain)
}

// ClickHouse hangs (SIGSTOP, longer than the rebalance timeout) while a member dies with
// inserts in flight and the other takes its partitions over, then resumes (SIGCONT) and
// works through what its sockets hold. Every insert attempt ends within its deadline; a
// timed-out attempt is read back only once the server has finished it; and the new owner's
// skip read waits until inserts begun before its assignment are over, so a late landing of
// the dead member's block is skipped, not stored a second time.
func TestClickHouseHangsWhileAMemberTakesOver(t *testing.T) {
	r := newRig(t, rigOptions{ownClickHouse: true})
	_, seed := newRand(t)
	prod := r.startProducing(seed, 6000, 0)
	a := r.startAndWait(nil)
	b := r.startAndWait(nil)
	waitUntil(t, 60*time.Second, "both members consume", func() (bool, string) {
		na, nb := a.mustScrape(t).sum("faultline_assigned_partitions"), b.mustScrape(t).sum("faultline_assigned_partitions")
		return na > 0 && nb > 0 && b.mustScrape(t).sum("faultline_rows_stored_total") > 0, fmt.Sprintf("assigned %v and %v", na, nb)
	})
	time.Sleep(time.Second)

	const hang = 12 * time.Second // past the 6 s rebalance timeout and the 3 s session timeout
	r.chSrv.Pause()
	stopped := time.Now()
	time.Sleep(300 * time.Millisecond) // let b send into the stopped server
	b.kill()
	waitUntil(t, 30*time.Second, a.name+" owns every partition", func() (bool, string) {
		n := a.mustScrape(t).sum("faultline_assigned_partitions")
		return n == partitions, fmt.Sprintf("assigned %v", n)
	})
	if time.Since(stopped) >= hang {
		t.Fatalf("takeover took %s, longer than the hang", time.Since(stopped))
	}
	time.Sleep(hang - time.Since(stopped))
	m := a.mustScrape(t)
	timeouts := m.sum("faultline_insert_errors_total", "class", "retryable")
	r.chSrv.Continue()
	resumed := time.Now()
	time.Sleep(3 * time.Second)
	st := prod.stop(r)
	rep := r.finish(a)
	v := r.verify()
	t.Logf("RESULT clickhouse hang: %d messages (%d events, %d quarantined) produced at %.0f/s; ClickHouse stopped %s; b SIGKILLed during it and a took every partition over; a's insert errors during the hang %.0f; %d assignments skipped stored-but-uncommitted rows; caught up %s after SIGCONT; drain: %s; exactly once: ok",
		v.Messages, v.Events, v.Quarantined, st.Rate(), resumed.Sub(stopped).Round(100*time.Millisecond), timeouts, r.skips(), rep.CatchUp.Round(100*time.Millisecond), rep.Drain)
}

// A backlog of maximum-size messages made of thousands of tiny keys (about 1 MB each once
// decoded, 16x their bytes) is consumed with RSS under the bound the config documents: the
// in-flight budget charges decoded cost, not message bytes.
func TestHostileBacklogStaysUnderTheMemoryBound(t *testing.T) {
	r := newRig(t, rigOptions{})
	const count = 1200
	var b strings.Builder
	b.WriteString(`{"status_code":400,"error_type":"billing_not_verified"`)
	for i := 0; b.Len() < 64<<10-16; i++ {
		b.WriteString(`,"` + strconv.FormatInt(int64(i), 36) + `":1`)
	}
	b.WriteString("}")
	payload := []byte(b.String())
	w := &kafka.Writer{Addr: kafka.TCP(r.broker), Topic: topic, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireOne, Balancer: &kafka.RoundRobin{}, BatchBytes: 2 << 20,
		Transport: testenv.WriterTransport(r.t)}
	defer w.Close()
	for sent := 0; sent < count; sent += 20 {
		msgs := make([]kafka.Message, 20)
		for i := range msgs {
			msgs[i] = kafka.Message{Value: payload}
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	r.written.Total += count
	r.written.Bytes += int64(count * len(payload))
	r.written.Accepted += count
	r.written.ByErrorType["billing_not_verified"] += count
	r.written.ByFlag["missing_request_id"] += count
	r.written.ByEnvironment["unknown"] += count
	r.mu.Unlock()

	ing := r.startAndWait(map[string]string{
		"FAULTLINE_BATCH_MAX_INFLIGHT_BYTES": "8MiB",
		"FAULTLINE_BATCH_MAX_BYTES":          "4MiB",
		"FAULTLINE_BATCH_INSERTS":            "2",
		"FAULTLINE_KAFKA_MAX_FETCH_BYTES":    "1MiB",
	})
	var maxRSS int64
	var maxInflight float64
	samples := 0
	for {
		m := ing.mustScrape(t)
		rss, err := ing.rssBytes()
		if err != nil {
			t.Fatalf("%s: %v", ing.name, err)
		}
		maxRSS = max(maxRSS, rss)
		maxInflight = max(maxInflight, m.sum("faultline_inflight_bytes"))
		samples++
		if rss > rssBound {
			t.Fatalf("RSS %s > bound %s while consuming the backlog", mib(float64(rss)), mib(rssBound))
		}
		if m.sum("faultline_rows_stored_total") >= count {
			break
		}
		if ing.exited() {
			t.Fatalf("%s exited: %v", ing.name, ing.exitErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rep := r.finish(ing)
	v := r.verify()
	t.Logf("RESULT hostile backlog: %d messages of %d bytes (%d tiny keys each); %d scrapes: max RSS %s (bound %s), max faultline_inflight_bytes %s of 8 MiB; drain: %s; exactly once: ok",
		v.Messages, len(payload), strings.Count(string(payload), ":")-2, samples, mib(float64(maxRSS)), mib(rssBound), mib(maxInflight), rep.Drain)
}
