package faults

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/loadgen"
	"github.com/faultline/faultline/pipeline"
	"github.com/faultline/faultline/schema"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// rssBound is issue 10's memory target: the ingester's peak RSS at most 128 MiB with the
// default memory settings (batch.max_inflight_bytes, batch.max_bytes, ingest.memory_limit
// auto), through a backlog and through a ClickHouse outage. Runs with smaller in-flight bounds
// are held to it too.
const rssBound = 128 << 20

// defaults is the configuration the ingester runs with for every key a test leaves unset.
func defaults(t *testing.T) *config.Config {
	t.Helper()
	c, err := config.Load("")
	if err != nil {
		t.Fatalf("config defaults: %v", err)
	}
	return c
}

const (
	topic      = "api-errors"
	partitions = 6 // what testenv.StartBrokerProcess seeds; the in-process broker matches it
	group      = "faultline-ingest"
)

// poisonPayload is an event the checks accept and the server refuses once events carries the
// poison check column (see addPoisonColumn).
const poisonPayload = `{"status_code":400,"request_id":"request-id-live-b05c992f-ebdc-489d-a754-c7e70ba13141","error_type":"billing_not_verified","error_message":"poison pill"}`

// rigOptions choose the services of a rig.
type rigOptions struct {
	// brokerProcess runs the devbroker as a process with a data dir (restartable) instead of
	// an in-process kfake broker.
	brokerProcess bool
	// ownClickHouse starts a clickhouse-server for this test alone (stoppable) instead of a
	// database on the test binary's shared server.
	ownClickHouse bool
	// cluster writes to a database on the test binary's 2x2 ClickHouse cluster (ZooKeeper +
	// 18.16), with the schema rendered for it and the ingesters in cluster mode.
	cluster bool
}

// rig is one fault scenario's world: a broker, a ClickHouse database with the schema, the
// ingester binary and the ground truth of everything produced.
type rig struct {
	t      testing.TB
	root   string
	bin    string
	cat    *catalog.Catalog
	broker string
	bp     *testenv.BrokerProcess // nil with the in-process broker
	chAddr string
	chSrv  *testenv.Server    // nil on the shared server
	cl     *testenv.ClusterDB // set with rigOptions.cluster; chAddr is its first node
	db     string
	kc     *kafka.Client
	dir    string // ingester logs and working dir, kept until the rig's cleanup has run

	mu       sync.Mutex
	written  loadgen.Expected // ground truth of every message acknowledged by the broker
	poisoned int64            // poison messages among them
	procs    []*ingestProc
	seq      int
}

func newRig(t testing.TB, opts rigOptions) *rig {
	t.Helper()
	r := &rig{t: t, root: testenv.RepoRoot(t), written: loadgen.NewExpected(), dir: t.TempDir()}
	if keep := os.Getenv("FAULTS_LOG_DIR"); keep != "" {
		// Keep the ingesters' logs after the run, for a look at what happened.
		r.dir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.bin = buildIngest(t)
	cat, err := catalog.Load(filepath.Join(r.root, "schema", "catalog.json"), "")
	if err != nil {
		t.Fatal(err)
	}
	r.cat = cat

	if opts.brokerProcess {
		r.bp = testenv.StartBrokerProcess(t, "")
		r.broker = r.bp.Addr
	} else {
		r.broker = testenv.Broker(t, topic, partitions).Addr
	}
	r.kc = &kafka.Client{Addr: kafka.TCP(r.broker), Timeout: 5 * time.Second}

	if opts.ownClickHouse {
		r.chSrv = testenv.StartClickHouseServer(t)
		r.chAddr = r.chSrv.Addr
		r.db = "faults_" + randomHex(6)
		admin := openCH(t, r.chAddr, "default")
		// r.db is made of hex digits here, so the statement is safe to build.
		if err := admin.Exec(context.Background(), "CREATE DATABASE "+r.db); err != nil {
			t.Fatalf("create database %s: %v", r.db, err)
		}
		admin.Close()
	} else if opts.cluster {
		r.cl = testenv.ClickHouseCluster(t)
		r.chAddr, r.db = r.cl.Nodes[0].Addr, r.cl.Database
	} else {
		ch := testenv.ClickHouse(t)
		r.chAddr, r.db = ch.Addr, ch.Database
	}
	conn := r.conn()
	defer conn.Close()
	mo := schema.Options{}
	if r.cl != nil {
		mo = schema.Options{Cluster: r.clusterSchema(), DDLTimeout: 20 * time.Second}
	}
	if _, err := schema.MigrateOn(context.Background(), schema.Native(conn), r.db, mo); err != nil {
		t.Fatalf("migrate %s: %v", r.db, err)
	}
	t.Cleanup(func() {
		r.mu.Lock()
		procs := append([]*ingestProc(nil), r.procs...)
		r.mu.Unlock()
		for _, p := range procs {
			p.kill()
		}
		if t.Failed() {
			keep := os.Getenv("FAULTS_KEEP_LOGS") // a directory: the whole logs outlive the test
			for _, p := range procs {
				t.Logf("log of %s (%s), last lines:\n%s", p.name, p.logPath, tail(p.logPath, 25))
				if keep != "" {
					if b, err := os.ReadFile(p.logPath); err == nil && os.MkdirAll(keep, 0o755) == nil {
						_ = os.WriteFile(filepath.Join(keep, t.Name()+"-"+p.name+".log"), b, 0o644)
					}
				}
			}
		}
	})
	return r
}

// ingestBuild is the ingester binary of this test binary, built once on first use into a
// temp dir named after the test binary's pid (leftovers of dead test binaries are removed).
var ingestBuild struct {
	once sync.Once
	path string
	err  error
}

func buildIngest(t testing.TB) string {
	t.Helper()
	ingestBuild.once.Do(func() {
		removeStaleBuilds()
		dir, err := os.MkdirTemp("", "faultline-faults-"+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			ingestBuild.err = err
			return
		}
		out := filepath.Join(dir, "ingest")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/ingest")
		cmd.Dir = testenv.RepoRoot(t)
		if b, err := cmd.CombinedOutput(); err != nil {
			ingestBuild.err = fmt.Errorf("go build ./cmd/ingest: %w\n%s", err, b)
			return
		}
		ingestBuild.path = out
	})
	if ingestBuild.err != nil {
		t.Fatal(ingestBuild.err)
	}
	return ingestBuild.path
}

func removeStaleBuilds() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "faultline-faults-*"))
	for _, m := range matches {
		pid, _, _ := strings.Cut(strings.TrimPrefix(filepath.Base(m), "faultline-faults-"), "-")
		if _, err := strconv.Atoi(pid); err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); errors.Is(err, os.ErrNotExist) {
			_ = os.RemoveAll(m)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func openCH(t testing.TB, addr, database string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{addr},
		Auth:        clickhouse.Auth{Database: database, Username: "default"},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("open clickhouse %s: %v", addr, err)
	}
	return conn
}

// conn opens a fresh connection to the rig's database: after an outage a pooled one may be
// dead.
func (r *rig) conn() driver.Conn { return openCH(r.t, r.chAddr, r.db) }

// addPoisonColumn makes events refuse any row whose error_message is "poison pill": a check
// column the server computes on insert fails the whole block, like a CHECK constraint.
func (r *rig) addPoisonColumn() {
	conn := r.conn()
	defer conn.Close()
	if err := conn.Exec(context.Background(), "ALTER TABLE "+r.db+
		".events ADD COLUMN poison UInt8 MATERIALIZED throwIf(error_message = 'poison pill')"); err != nil {
		r.t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------------------
// Producing, with ground truth

func (r *rig) newWriter() *kafka.Writer {
	w, err := loadgen.NewWriter(loadgen.WriterConfig{Brokers: []string{r.broker}, Topic: topic, Balancer: "round-robin",
		Transport: testenv.WriterTransport(r.t)})
	if err != nil {
		r.t.Fatal(err)
	}
	return w
}

func genOptions(seed uint64) loadgen.Options {
	o := loadgen.DefaultOptions()
	o.Seed = seed
	o.MalformedShare = 0.05 // every reject reason and flag shows up in the counts
	o.UnknownShare = 0.02
	return o
}

// production is a background loadgen run.
type production struct {
	cancel context.CancelFunc
	done   chan struct{}
	st     loadgen.Stats
	err    error
}

// startProducing writes generated messages at rate per second until count (0: until stop).
func (r *rig) startProducing(seed uint64, rate float64, count int64) *production {
	ctx, cancel := context.WithCancel(context.Background())
	p := &production{cancel: cancel, done: make(chan struct{})}
	w := r.newWriter()
	gen := loadgen.New(r.cat, genOptions(seed))
	go func() {
		defer close(p.done)
		defer w.Close()
		p.st, p.err = loadgen.Produce(ctx, w, gen, rate, count, loadgen.ProduceOptions{})
	}()
	return p
}

// stop ends the run (writes in flight finish) and adds what was delivered to the ground
// truth. A failed write fails the test: the broker may hold it or not, so the ground truth
// would be unknown.
func (p *production) stop(r *rig) loadgen.Stats {
	r.t.Helper()
	p.cancel()
	return p.wait(r)
}

// wait waits for the run to end by itself.
func (p *production) wait(r *rig) loadgen.Stats {
	r.t.Helper()
	<-p.done
	if p.err != nil || p.st.Errors > 0 {
		r.t.Fatalf("produce: %v (%d failed writes: ground truth unknown)", p.err, p.st.Errors)
	}
	r.mu.Lock()
	r.written.Merge(p.st.Delivered)
	r.mu.Unlock()
	return p.st
}

// produce writes count messages as fast as it can.
func (r *rig) produce(seed uint64, count int64) {
	r.t.Helper()
	r.startProducing(seed, 0, count).wait(r)
}

// producePoison writes n poison messages; they must end up in quarantine as server_rejected.
func (r *rig) producePoison(n int) {
	r.t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(r.broker), Topic: topic, BatchTimeout: 5 * time.Millisecond,
		RequiredAcks: kafka.RequireOne, Balancer: &kafka.RoundRobin{}, Transport: testenv.WriterTransport(r.t)}
	defer w.Close()
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		msgs[i] = kafka.Message{Value: []byte(poisonPayload)}
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		r.t.Fatalf("produce poison: %v", err)
	}
	r.mu.Lock()
	r.written.Total += int64(n)
	r.written.Bytes += int64(n * len(poisonPayload))
	r.written.Rejected += int64(n)
	r.written.ByReason[pipeline.ReasonServerRejected] += int64(n)
	r.poisoned += int64(n)
	r.mu.Unlock()
}

// ---------------------------------------------------------------------------------------
// Kafka offsets

func (r *rig) partitionList() []int {
	out := make([]int, partitions)
	for i := range out {
		out[i] = i
	}
	return out
}

// endOffsets returns the end offset of each partition.
func (r *rig) endOffsets(ctx context.Context) (map[int]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range r.partitionList() {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p))
	}
	resp, err := r.kc.ListOffsets(ctx, req)
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	if len(out) != partitions {
		return nil, fmt.Errorf("end offsets of %d partitions, want %d", len(out), partitions)
	}
	return out, nil
}

// committed returns the group's committed offset of each partition (0 when none).
func (r *rig) committed(ctx context.Context) (map[int]int64, error) {
	resp, err := r.kc.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: r.partitionList()}})
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	if resp.Error != nil {
		if errors.Is(resp.Error, kafka.GroupIdNotFound) {
			return out, nil
		}
		return nil, resp.Error
	}
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("partition %d: %w", p.Partition, p.Error)
		}
		out[p.Partition] = max(p.CommittedOffset, 0)
	}
	return out, nil
}

// lag is end minus committed, summed over partitions: messages not yet known stored.
func (r *rig) lag() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ends, err := r.endOffsets(ctx)
	if err != nil {
		return 0, err
	}
	com, err := r.committed(ctx)
	if err != nil {
		return 0, err
	}
	var lag int64
	for p, e := range ends {
		lag += e - com[p]
	}
	return lag, nil
}

// waitCaughtUp waits until the group has committed every partition's end offset.
func (r *rig) waitCaughtUp(limit time.Duration, watch ...*ingestProc) map[int]int64 {
	r.t.Helper()
	var ends map[int]int64
	waitUntil(r.t, limit, "the group commits the end offsets", func() (bool, string) {
		for _, p := range watch {
			if p.exited() {
				r.t.Fatalf("%s exited while catching up: %v\n%s", p.name, p.exitErr, tail(p.logPath, 20))
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e, err := r.endOffsets(ctx)
		if err != nil {
			return false, err.Error()
		}
		c, err := r.committed(ctx)
		if err != nil {
			return false, err.Error()
		}
		for p, end := range e {
			if c[p] != end {
				return false, fmt.Sprintf("ends %v committed %v", e, c)
			}
		}
		ends = e
		return true, ""
	})
	return ends
}

// ---------------------------------------------------------------------------------------
// The ingester as a subprocess

type ingestProc struct {
	name        string
	metricsAddr string
	logPath     string
	cmd         *exec.Cmd
	stdout      *bytes.Buffer
	done        chan struct{}
	exitErr     error
	started     time.Time
}

// ingesterEnv is the ingester's configuration for a rig, at test speed: short session
// timeout so a SIGKILLed member's partitions move on after 3 s, small batches flushed often.
func (r *rig) ingesterEnv(metricsAddr string) map[string]string {
	env := map[string]string{
		"FAULTLINE_KAFKA_BROKERS":            r.broker,
		"FAULTLINE_KAFKA_TOPIC":              topic,
		"FAULTLINE_KAFKA_GROUP":              group,
		"FAULTLINE_KAFKA_SESSION_TIMEOUT":    "3s",
		"FAULTLINE_KAFKA_HEARTBEAT_INTERVAL": "300ms",
		"FAULTLINE_KAFKA_REBALANCE_TIMEOUT":  "6s",
		"FAULTLINE_BATCH_INSERT_TIMEOUT":     "2s",
		"FAULTLINE_KAFKA_MAX_WAIT":           "200ms",
		"FAULTLINE_CLICKHOUSE_ADDR":          r.chAddr,
		"FAULTLINE_CLICKHOUSE_DATABASE":      r.db,
		"FAULTLINE_CLICKHOUSE_DIAL_TIMEOUT":  "2s",
		"FAULTLINE_BATCH_MAX_ROWS":           "5000",
		"FAULTLINE_BATCH_MAX_AGE":            "200ms",
		"FAULTLINE_RETRY_INITIAL_BACKOFF":    "20ms",
		"FAULTLINE_RETRY_MAX_BACKOFF":        "1s",
		"FAULTLINE_RETRY_FATAL_BACKOFF":      "1s",
		"FAULTLINE_INGEST_SHUTDOWN_TIMEOUT":  "20s",
		"FAULTLINE_METRICS_LISTEN":           metricsAddr,
		"FAULTLINE_CATALOG_PATH":             filepath.Join(r.root, "schema", "catalog.json"),
		"FAULTLINE_LOG_LEVEL":                "info",
	}
	if r.cl != nil {
		// Every node: the main connection (schema check, the shard of a partition) keeps
		// working with any node down. Each shard's connection comes from system.clusters.
		env["FAULTLINE_CLICKHOUSE_ADDR"] = strings.Join(r.cl.Addrs(), ",")
		env["FAULTLINE_CLICKHOUSE_CLUSTER"] = r.cl.Name
		env["FAULTLINE_CLICKHOUSE_CLUSTER_INSERT"] = "local"
	}
	return env
}

// clusterSchema is the rig's cluster as the schema renders it.
func (r *rig) clusterSchema() schema.Cluster {
	return schema.Cluster{Name: r.cl.Name, ZKPath: schema.DefaultZKPath, ShardingKey: schema.DefaultShardingKey()}
}

// startIngester runs the ingester binary with the rig's config plus extra, and waits until
// its metrics endpoint answers (schema checked, catalog loaded).
func (r *rig) startIngester(extra map[string]string, args ...string) *ingestProc {
	r.t.Helper()
	r.mu.Lock()
	r.seq++
	name := fmt.Sprintf("ingest-%d", r.seq)
	r.mu.Unlock()
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(r.t))
	env := r.ingesterEnv(addr)
	for k, v := range extra {
		env[k] = v
	}
	var envList []string
	for _, kv := range os.Environ() {
		// The environment is the whole config; GOMEMLIMIT/GOGC would override the memory
		// limit the ingester derives from it.
		if !strings.HasPrefix(kv, "FAULTLINE_") && !strings.HasPrefix(kv, "GOMEMLIMIT=") && !strings.HasPrefix(kv, "GOGC=") {
			envList = append(envList, kv)
		}
	}
	for k, v := range env {
		envList = append(envList, k+"="+v)
	}
	dir := r.dir
	p := &ingestProc{name: name, metricsAddr: addr, logPath: filepath.Join(dir, name+".log"),
		stdout: &bytes.Buffer{}, done: make(chan struct{}), started: time.Now()}
	logf, err := os.Create(p.logPath)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = dir // no config.yaml here: the environment is the whole config
	cmd.Env = envList
	cmd.Stdout = p.stdout
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		r.t.Fatalf("start %s: %v", r.bin, err)
	}
	p.cmd = cmd
	go func() {
		p.exitErr = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p
}

// startAndWait starts an ingester and waits until it serves metrics.
func (r *rig) startAndWait(extra map[string]string) *ingestProc {
	r.t.Helper()
	p := r.startIngester(extra)
	waitUntil(r.t, 60*time.Second, p.name+" serves /metrics", func() (bool, string) {
		if p.exited() {
			r.t.Fatalf("%s exited at start: %v\n%s", p.name, p.exitErr, tail(p.logPath, 20))
		}
		_, err := p.scrape()
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return p
}

func (p *ingestProc) pid() int { return p.cmd.Process.Pid }

func (p *ingestProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill sends SIGKILL and waits for the exit.
func (p *ingestProc) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit: flushed, committed, left the group.
func (p *ingestProc) stop(t testing.TB) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(45 * time.Second):
		p.kill()
		t.Fatalf("%s did not stop within 45 s of SIGTERM\n%s", p.name, tail(p.logPath, 20))
	}
	if p.exitErr != nil {
		t.Fatalf("%s exited with %v after SIGTERM\n%s", p.name, p.exitErr, tail(p.logPath, 20))
	}
}

// logCount counts log lines containing s.
func (p *ingestProc) logCount(s string) int {
	f, err := os.Open(p.logPath)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			n++
		}
	}
	return n
}

// rssBytes reads the process's resident set size from /proc.
func (p *ingestProc) rssBytes() (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.pid()) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// ---------------------------------------------------------------------------------------
// Metrics

type series struct {
	name   string
	labels map[string]string
	value  float64
}

type snapshot []series

var httpClient = &http.Client{Timeout: 3 * time.Second}

func (p *ingestProc) scrape() (snapshot, error) {
	resp, err := httpClient.Get("http://" + p.metricsAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(string(body))
}

// parseMetrics reads the Prometheus text format (what promhttp writes: no timestamps).
func parseMetrics(text string) (snapshot, error) {
	var out snapshot
	for _, line := range strings.Split(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		s := series{labels: map[string]string{}}
		rest := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			s.name, rest = line[:i], line[i:]
		}
		if strings.HasPrefix(rest, "{") {
			rest = rest[1:]
			for !strings.HasPrefix(rest, "}") {
				eq := strings.Index(rest, `="`)
				if eq < 0 {
					return nil, fmt.Errorf("bad labels in %q", line)
				}
				key := strings.TrimPrefix(rest[:eq], ",")
				rest = rest[eq+2:]
				var val strings.Builder
				for {
					if rest == "" {
						return nil, fmt.Errorf("unterminated label value in %q", line)
					}
					c := rest[0]
					rest = rest[1:]
					if c == '\\' && rest != "" {
						switch rest[0] {
						case 'n':
							val.WriteByte('\n')
						default:
							val.WriteByte(rest[0])
						}
						rest = rest[1:]
						continue
					}
					if c == '"' {
						break
					}
					val.WriteByte(c)
				}
				s.labels[key] = val.String()
				rest = strings.TrimPrefix(rest, ",")
			}
			rest = rest[1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return nil, fmt.Errorf("no value in %q", line)
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return nil, fmt.Errorf("value of %q: %w", line, err)
		}
		s.value = v
		out = append(out, s)
	}
	return out, nil
}

// sum adds the series of name whose labels include the pairs of match (key, value, ...).
func (s snapshot) sum(name string, match ...string) float64 {
	total := 0.0
	for _, x := range s {
		if x.name != name || !labelsMatch(x.labels, match) {
			continue
		}
		total += x.value
	}
	return total
}

// byLabel returns name's values keyed by the value of label.
func (s snapshot) byLabel(name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, x := range s {
		if x.name == name {
			out[x.labels[label]] += x.value
		}
	}
	return out
}

func labelsMatch(labels map[string]string, match []string) bool {
	for i := 0; i+1 < len(match); i += 2 {
		if labels[match[i]] != match[i+1] {
			return false
		}
	}
	return true
}

// mustScrape scrapes p, failing the test when it cannot.
func (p *ingestProc) mustScrape(t testing.TB) snapshot {
	t.Helper()
	var s snapshot
	var err error
	for range 5 {
		if s, err = p.scrape(); err == nil {
			return s
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("scrape %s: %v", p.name, err)
	return nil
}

// ---------------------------------------------------------------------------------------
// Ending a scenario and checking the promise

// finishReport is what the final checks saw.
type finishReport struct {
	CatchUp time.Duration
	Ends    map[int]int64
	Drain   string // the drain run's summary line
}

// finish lets ing (started if nil) catch up to the end of the topic by itself, checks its
// offset ledger against Kafka's end offsets, stops it with SIGTERM and runs `ingest --drain`,
// which must find nothing left to do. Every other ingester must be gone already.
func (r *rig) finish(ing *ingestProc) finishReport {
	r.t.Helper()
	if ing == nil {
		ing = r.startAndWait(nil)
	}
	start := time.Now()
	ends := r.waitCaughtUp(3*time.Minute, ing)
	rep := finishReport{CatchUp: time.Since(start), Ends: ends}

	// The ledger of the sole member: it owns every partition, and its committed, consumed
	// and resolved offsets agree with the end of the topic.
	waitUntil(r.t, 30*time.Second, ing.name+"'s offset ledger reaches the end offsets", func() (bool, string) {
		m := ing.mustScrape(r.t)
		if b := m.sum("faultline_ledger_breaches_total"); b != 0 {
			r.t.Fatalf("%s: faultline_ledger_breaches_total = %v", ing.name, b)
		}
		if a := m.sum("faultline_assigned_partitions"); a != partitions {
			return false, fmt.Sprintf("assigned %v", a)
		}
		com := m.byLabel("faultline_offset_committed", "partition")
		cons := m.byLabel("faultline_offset_consumed", "partition")
		for p, end := range ends {
			k := strconv.Itoa(p)
			if int64(com[k]) != end || int64(cons[k]) != end {
				return false, fmt.Sprintf("partition %d: committed %v consumed %v, end %d", p, com[k], cons[k], end)
			}
		}
		return true, ""
	})
	ing.stop(r.t)

	drain := r.startIngester(nil, "--drain")
	select {
	case <-drain.done:
	case <-time.After(2 * time.Minute):
		drain.kill()
		r.t.Fatalf("ingest --drain did not finish\n%s", tail(drain.logPath, 20))
	}
	if drain.exitErr != nil {
		r.t.Fatalf("ingest --drain: %v\n%s", drain.exitErr, tail(drain.logPath, 20))
	}
	rep.Drain = strings.TrimSpace(drain.stdout.String())
	if !regexp.MustCompile(`^consumed 0 `).MatchString(rep.Drain) {
		r.t.Fatalf("ingest --drain after catching up: %q, want consumed 0", rep.Drain)
	}
	r.checkLogs()
	return rep
}

// checkLogs fails the test when any ingester logged an offset ledger breach.
func (r *rig) checkLogs() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		if n := p.logCount("offset ledger breach"); n > 0 {
			r.t.Errorf("%s logged %d offset ledger breaches:\n%s", p.name, n, tail(p.logPath, 20))
		}
	}
}

// skips counts the partition assignments, over all ingesters, that found rows stored past
// the committed offset (stored by a member that died before committing) and skipped them.
func (r *rig) skips() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.procs {
		n += p.logCount("partition has rows stored past its committed offset")
	}
	return n
}

// verified is what verify counted.
type verified struct {
	Messages, Events, Quarantined, ServerRejected int64
}

// verify checks the promise against the ground truth and the topic:
//   - the topic holds exactly the acknowledged messages;
//   - every (partition, offset) of the topic is exactly one row across events and quarantine;
//   - counts per error_type, reason, flag and environment equal the ground truth;
//   - the per-minute rollup agrees with events, in total and per error_type.
func (r *rig) verify() verified {
	r.t.Helper()
	t := r.t
	conn := r.conn()
	defer conn.Close()
	ctx := context.Background()
	r.mu.Lock()
	want := r.written.Clone()
	poisoned := r.poisoned
	r.mu.Unlock()

	if r.cl != nil {
		if parts := r.cl.DropUncommittedParts(t); len(parts) > 0 {
			t.Logf("parts of inserts whose commit had an unknown outcome, which 18.16 drops some 5 minutes later, dropped now by restarting their nodes: %v", parts)
		}
		// Reads through the Distributed tables pick a replica at random; replication is
		// asynchronous.
		r.cl.SyncReplicas(t, r.db+".events_local", r.db+".quarantine_local", r.db+".stored_offsets_local", r.db+".events_per_minute_local")
	}
	ends, err := r.endOffsets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var inTopic int64
	for _, e := range ends {
		inTopic += e
	}
	if inTopic != want.Total {
		t.Fatalf("the topic holds %d messages, %d were acknowledged: ground truth unknown", inTopic, want.Total)
	}

	db := r.db
	union := "(SELECT kafka_partition, kafka_offset FROM " + db + ".events UNION ALL SELECT kafka_partition, kafka_offset FROM " + db + ".quarantine)"
	rows, err := conn.Query(ctx, "SELECT kafka_partition, toUInt64(count()), toUInt64(uniqExact(kafka_offset)), min(kafka_offset), max(kafka_offset) FROM "+union+" GROUP BY kafka_partition")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for rows.Next() {
		var (
			part            uint32
			n, uniq, lo, hi uint64
		)
		if err := rows.Scan(&part, &n, &uniq, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		seen[int(part)] = true
		end, ok := ends[int(part)]
		if !ok {
			t.Errorf("rows of partition %d, which the topic does not have", part)
			continue
		}
		// count = distinct = end, min 0 and max end-1: each offset of [0, end) exactly once.
		if int64(n) != end || int64(uniq) != end || lo != 0 || int64(hi) != end-1 {
			t.Errorf("partition %d: %d rows, %d distinct offsets in [%d, %d]; the topic has offsets [0, %d)", part, n, uniq, lo, hi, end)
		}
	}
	rows.Close()
	for p, end := range ends {
		if end > 0 && !seen[p] {
			t.Errorf("partition %d: no rows, the topic has %d messages", p, end)
		}
	}
	if t.Failed() {
		r.logDuplicates(conn)
		r.logMissing(conn, ends)
		t.FailNow()
	}

	events := testenv.QueryInt(t, conn, "SELECT toUInt64(count()) FROM "+db+".events")
	quarantined := testenv.QueryInt(t, conn, "SELECT toUInt64(count()) FROM "+db+".quarantine")
	if events != want.Accepted || quarantined != want.Rejected {
		t.Errorf("events %d quarantine %d, want %d and %d", events, quarantined, want.Accepted, want.Rejected)
	}
	testenv.SameCounts(t, "events by error_type", testenv.QueryCounts(t, conn, "SELECT error_type, toUInt64(count()) FROM "+db+".events GROUP BY error_type"), want.ByErrorType)
	testenv.SameCounts(t, "quarantine by reason", testenv.QueryCounts(t, conn, "SELECT reason, toUInt64(count()) FROM "+db+".quarantine GROUP BY reason"), want.ByReason)
	testenv.SameCounts(t, "events by flag", testenv.QueryCounts(t, conn, "SELECT flag, toUInt64(count()) FROM "+db+".events ARRAY JOIN flags AS flag GROUP BY flag"), want.ByFlag)
	testenv.SameCounts(t, "events by environment", testenv.QueryCounts(t, conn, "SELECT environment, toUInt64(count()) FROM "+db+".events GROUP BY environment"), want.ByEnvironment)

	rolled := testenv.QueryInt(t, conn, "SELECT toUInt64(sum(events)) FROM "+db+".events_per_minute")
	if rolled != events {
		t.Errorf("events_per_minute sums to %d, events has %d rows", rolled, events)
	}
	testenv.SameCounts(t, "events_per_minute by error_type", testenv.QueryCounts(t, conn, "SELECT error_type, toUInt64(sum(events)) FROM "+db+".events_per_minute GROUP BY error_type"), want.ByErrorType)

	var rejected int64
	if poisoned > 0 {
		rejected = testenv.QueryInt(t, conn, "SELECT toUInt64(count()) FROM "+db+".quarantine WHERE reason = 'server_rejected' AND payload LIKE '%poison pill%' AND detail LIKE '%throwIf%'")
		if rejected != poisoned {
			t.Errorf("poison rows quarantined as server_rejected with the server's message: %d, want %d", rejected, poisoned)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return verified{Messages: want.Total, Events: events, Quarantined: quarantined, ServerRejected: rejected}
}

// logMissing logs the offsets of each partition that no row holds, as ranges, with what
// the ground truth says they were.
func (r *rig) logMissing(conn driver.Conn, ends map[int]int64) {
	db := r.db
	for p, end := range ends {
		rows, err := conn.Query(context.Background(), "SELECT DISTINCT kafka_offset FROM (SELECT kafka_partition, kafka_offset FROM "+db+
			".events UNION ALL SELECT kafka_partition, kafka_offset FROM "+db+".quarantine) WHERE kafka_partition = ? ORDER BY kafka_offset", uint32(p))
		if err != nil {
			r.t.Logf("missing query: %v", err)
			return
		}
		next := int64(0)
		var gaps []string
		note := func(lo, hi int64) {
			if lo < hi && len(gaps) < 20 {
				gaps = append(gaps, fmt.Sprintf("[%d, %d)", lo, hi))
			}
		}
		for rows.Next() {
			var o uint64
			if err := rows.Scan(&o); err != nil {
				rows.Close()
				r.t.Logf("missing scan: %v", err)
				return
			}
			note(next, int64(o))
			next = int64(o) + 1
		}
		rows.Close()
		note(next, end)
		if len(gaps) > 0 {
			r.t.Logf("missing: partition %d offsets %s", p, strings.Join(gaps, " "))
		}
	}
}

func (r *rig) logDuplicates(conn driver.Conn) {
	db := r.db
	q := "SELECT kafka_partition, kafka_offset, toUInt64(count()) AS c, groupArray(t) FROM (SELECT kafka_partition, kafka_offset, 'events' AS t FROM " + db +
		".events UNION ALL SELECT kafka_partition, kafka_offset, 'quarantine' AS t FROM " + db + ".quarantine) GROUP BY kafka_partition, kafka_offset HAVING c > 1 ORDER BY kafka_partition, kafka_offset LIMIT 20"
	rows, err := conn.Query(context.Background(), q)
	if err != nil {
		r.t.Logf("duplicates query: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var (
			part   uint32
			off, c uint64
			tables []string
		)
		if err := rows.Scan(&part, &off, &c, &tables); err != nil {
			r.t.Logf("duplicates scan: %v", err)
			return
		}
		r.t.Logf("duplicate: partition %d offset %d stored %d times in %v", part, off, c, tables)
	}
}

// ---------------------------------------------------------------------------------------
// Small helpers

// waitUntil polls cond every 100 ms until it holds, failing after limit with cond's last
// word on what it is waiting for.
func waitUntil(t testing.TB, limit time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, status := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s (%s)", limit, what, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func mib(n float64) string { return fmt.Sprintf("%.1f MiB", n/(1<<20)) }
