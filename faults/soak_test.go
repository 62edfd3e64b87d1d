//go:build soak

package faults

import (
	"fmt"
	mrand "math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/faultline/faultline/loadgen"
)

// TestSoak runs the faults of the CI scenarios for SOAK_DURATION (default 10m), combined at
// random and overlapping, while traffic flows at SOAK_RATE messages/s (default 3000): SIGKILL
// of an ingester, a second ingester joining and leaving (SIGTERM or SIGKILL), the broker
// stopped or killed and restarted on its data, ClickHouse stopped for 30-45 s (in the
// background, while other faults go on; in-flight bytes and RSS asserted on every scrape), and
// poison rows the server refuses. Then it lets the ingester catch up and checks the promise.
// Run it with `make soak` (build tag soak); it is not part of `go test ./...`.
func TestSoak(t *testing.T) {
	d := 10 * time.Minute
	if s := os.Getenv("SOAK_DURATION"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatalf("SOAK_DURATION=%q: %v", s, err)
		}
	}
	rate := 3000.0
	if s := os.Getenv("SOAK_RATE"); s != "" {
		if _, err := fmt.Sscan(s, &rate); err != nil || rate <= 0 {
			t.Fatalf("SOAK_RATE=%q: want a positive number", s)
		}
	}
	// Every wait below has its own limit; this catches anything else that hangs.
	watchdog := time.AfterFunc(d+20*time.Minute, func() { panic("soak: still running 20 minutes past SOAK_DURATION") })
	defer watchdog.Stop()

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SOAK_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	rng := mrand.New(mrand.NewPCG(seed, 0x50a4))
	t.Logf("soak: duration %s, rate %.0f/s, seed %d (SOAK_SEED replays the fault choices)", d, rate, seed)

	r := newRig(t, rigOptions{brokerProcess: true, ownClickHouse: true})
	r.addPoisonColumn()
	// Under the same bound as TestClickHouseOutage (rssBound); the soft limit the ingester
	// derives from these settings (ingest.memory_limit auto) is 2 x 16 + 2 x 8 + 40 = 88 MiB.
	const inflightLimit = 16 << 20
	env := map[string]string{
		"FAULTLINE_BATCH_MAX_INFLIGHT_BYTES": "16MiB",
		"FAULTLINE_BATCH_MAX_BYTES":          "8MiB",
		"FAULTLINE_BATCH_INSERTS":            "2",
		"FAULTLINE_KAFKA_MAX_FETCH_BYTES":    "1MiB",
	}

	s := &soak{t: t, r: r, env: env, start: time.Now(), rate: rate, seed: seed}
	s.resume()
	s.members = []*ingestProc{s.startMember()}

	// ClickHouse outages run in the background so that other faults overlap them; a sampler
	// asserts the memory bounds of every running ingester while the server is down.
	var (
		outageMu   sync.Mutex
		chDown     bool
		outageDone = make(chan struct{})
		maxInfl    float64
		maxRSS     int64
	)
	close(outageDone)
	stopSampler := make(chan struct{})
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopSampler:
				return
			case <-tick.C:
			}
			outageMu.Lock()
			down := chDown
			outageMu.Unlock()
			if !down {
				continue
			}
			for _, p := range s.running() {
				m, err := p.scrape()
				rss, rerr := p.rssBytes()
				if err != nil || rerr != nil {
					continue // killed or starting: nothing to measure
				}
				infl, lim := m.sum("faultline_inflight_bytes"), m.sum("faultline_inflight_bytes_limit")
				if infl > lim || lim != inflightLimit {
					t.Errorf("%s during a ClickHouse outage: inflight %v, limit %v (want %d)", p.name, infl, lim, inflightLimit)
				}
				if rss > rssBound {
					t.Errorf("%s during a ClickHouse outage: RSS %s > bound %s", p.name, mib(float64(rss)), mib(rssBound))
				}
				outageMu.Lock()
				maxInfl, maxRSS = max(maxInfl, infl), max(maxRSS, rss)
				outageMu.Unlock()
			}
		}
	}()

	counts := map[string]int{}
	deadline := s.start.Add(d)
	for time.Now().Before(deadline) && !t.Failed() {
		time.Sleep(time.Duration(3000+rng.IntN(12000)) * time.Millisecond)
		switch f := rng.IntN(10); {
		case f < 3:
			p := s.members[rng.IntN(len(s.members))]
			lag, _ := r.lag()
			p.kill()
			s.note("SIGKILL %s (%d uncommitted)", p.name, lag)
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Millisecond)
			s.replace(p)
			counts["ingester SIGKILL"]++
		case f < 5:
			outageMu.Lock()
			down := chDown
			outageMu.Unlock()
			if len(s.members) == 1 && down {
				continue // it would only wait for ClickHouse; let other faults overlap the outage
			}
			if len(s.members) == 1 {
				s.members = append(s.members, s.startMember())
				s.note("%s joins", s.members[1].name)
				counts["ingester join"]++
				break
			}
			p := s.members[1]
			s.members = s.members[:1]
			if rng.IntN(2) == 0 {
				p.stop(t)
				s.note("%s leaves (SIGTERM)", p.name)
			} else {
				p.kill()
				s.note("%s leaves (SIGKILL)", p.name)
			}
			counts["ingester leave"]++
		case f < 7:
			// The producer pauses: a write the broker takes but cannot acknowledge would make
			// the ground truth unknown. The ingesters keep running through it.
			s.pause()
			lag, _ := r.lag()
			kill := rng.IntN(2) == 0
			if kill {
				r.bp.Kill()
			} else {
				r.bp.Stop()
			}
			down := time.Duration(1000+rng.IntN(4000)) * time.Millisecond
			time.Sleep(down)
			r.bp.Start()
			s.resume()
			s.note("broker %s for %s (%d uncommitted)", map[bool]string{true: "SIGKILL", false: "SIGTERM"}[kill], down.Round(100*time.Millisecond), lag)
			counts["broker restart"]++
		case f < 8:
			select {
			case <-outageDone:
			default:
				continue // one outage at a time
			}
			down := time.Duration(30000+rng.IntN(15000)) * time.Millisecond
			// Half the outages are a hung server (SIGSTOP past the rebalance timeout): it
			// holds its connections and the blocks in them, then goes on (SIGCONT).
			hang := rng.IntN(2) == 0
			if hang {
				down = time.Duration(8000+rng.IntN(8000)) * time.Millisecond
			}
			outageDone = make(chan struct{})
			done := outageDone
			if hang {
				r.chSrv.Pause()
			} else {
				r.chSrv.Stop()
			}
			outageMu.Lock()
			chDown = true
			outageMu.Unlock()
			s.note("ClickHouse %s for %s", map[bool]string{true: "hung (SIGSTOP)", false: "stopped"}[hang], down.Round(100*time.Millisecond))
			counts[map[bool]string{true: "clickhouse hang", false: "clickhouse outage"}[hang]]++
			go func() {
				defer close(done)
				time.Sleep(down)
				outageMu.Lock()
				chDown = false
				outageMu.Unlock()
				if hang {
					r.chSrv.Continue()
				} else {
					r.chSrv.Start()
				}
				s.note("ClickHouse back")
			}()
		default:
			n := 1 + rng.IntN(5)
			r.producePoison(n)
			s.note("%d poison rows", n)
			counts["poison rows"] += n
		}
	}
	<-outageDone
	close(stopSampler)
	<-samplerDone
	st := s.pause()
	for len(s.members) > 1 {
		s.members[len(s.members)-1].stop(t)
		s.members = s.members[:len(s.members)-1]
	}
	rep := r.finish(s.members[0])
	v := r.verify()
	t.Logf("soak: faults injected: %v", counts)
	t.Logf("RESULT soak %s: %d messages (%d events, %d quarantined, %d server-rejected poison rows), last production segment %.0f/s; %d ingester processes; %d assignments skipped stored-but-uncommitted rows; during outages max inflight %s (limit %s), max RSS %s (bound %s); final catch-up %s; drain: %s; exactly once: ok",
		time.Since(s.start).Round(time.Second), v.Messages, v.Events, v.Quarantined, v.ServerRejected, st.Rate(), len(r.procs), r.skips(),
		mib(maxInfl), mib(inflightLimit), mib(float64(maxRSS)), mib(rssBound), rep.CatchUp.Round(100*time.Millisecond), rep.Drain)
}

type soak struct {
	t       *testing.T
	r       *rig
	env     map[string]string
	start   time.Time
	rate    float64
	seed    uint64
	segment uint64
	prod    *production
	members []*ingestProc // members[0] is always wanted running; members[1] comes and goes
}

func (s *soak) note(format string, args ...any) {
	s.t.Logf("soak %8s: %s", time.Since(s.start).Round(time.Second), fmt.Sprintf(format, args...))
}

func (s *soak) resume() {
	s.segment++
	s.prod = s.r.startProducing(s.seed+s.segment*7919, s.rate, 0)
}

// pause stops the producer; what it delivered joins the ground truth.
func (s *soak) pause() loadgen.Stats { return s.prod.stop(s.r) }

// running lists the member processes that are up.
func (s *soak) running() []*ingestProc {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	var out []*ingestProc
	for _, p := range s.r.procs {
		if !p.exited() {
			out = append(out, p)
		}
	}
	return out
}

// startMember starts an ingester, retrying while ClickHouse is down (it refuses to start
// without its database).
func (s *soak) startMember() *ingestProc {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		p := s.r.startIngester(s.env)
		for time.Now().Before(deadline) {
			if p.exited() {
				break
			}
			if _, err := p.scrape(); err == nil {
				return p
			}
			time.Sleep(200 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			p.kill()
			s.t.Fatalf("%s did not start within 3 minutes\n%s", p.name, tail(p.logPath, 20))
		}
		time.Sleep(2 * time.Second)
	}
}

// replace restarts a killed member in its slot.
func (s *soak) replace(dead *ingestProc) {
	for i, p := range s.members {
		if p == dead {
			s.members[i] = s.startMember()
			s.note("%s restarted as %s", dead.name, s.members[i].name)
		}
	}
}
