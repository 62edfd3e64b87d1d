// Package config loads faultline's configuration: defaults, then a YAML file, then
// environment variables FAULTLINE_<SECTION>_<KEY>. Every value is checked at load time and a
// bad one is reported with the key that holds it.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/faultline/faultline/schema"
	"github.com/spf13/cast"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment override: FAULTLINE_KAFKA_BROKERS sets kafka.brokers.
const EnvPrefix = "FAULTLINE"

// Config is the whole configuration of the ingester and the query CLI.
type Config struct {
	Kafka      Kafka
	ClickHouse ClickHouse
	Batch      Batch
	Retry      Retry
	Checks     Checks
	Catalog    Catalog
	Metrics    Metrics
	Alerts     Alerts
	Ingest     Ingest
	Retention  Retention
	Query      Query
	Log        Log
}

// Kafka is where events come from and how the consumer group behaves.
type Kafka struct {
	Brokers           []string
	Topics            []string // key kafka.topic: one name or a list
	Group             string
	StartOffset       string // "earliest" or "latest": where a group with no commits starts
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	MinFetchBytes     int
	MaxFetchBytes     int
	MaxWait           time.Duration
	SASL              SASL
	TLS               TLS
}

// SASL is how the Kafka client authenticates. An empty Mechanism means no SASL.
type SASL struct {
	Mechanism string // "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512"
	Username  string
	Password  string // from FAULTLINE_KAFKA_SASL_PASSWORD or kafka.sasl.password_file, never from the YAML file
}

// ClickHouse is where rows go and where the query CLI reads.
type ClickHouse struct {
	Addr        []string
	Database    string
	Username    string
	Password    string // from FAULTLINE_CLICKHOUSE_PASSWORD or PasswordFile, never from the YAML file
	DialTimeout time.Duration
	ReadTimeout time.Duration
	Compression string // "lz4", "zstd" or "none"
	TLS         TLS
	Cluster     Cluster
}

// Cluster is cluster mode (clickhouse.cluster and clickhouse.cluster_*): the schema is
// rendered ON CLUSTER with Replicated tables under Distributed ones (see schema.Cluster).
// An empty Name is a single server, and the other fields are then unused.
type Cluster struct {
	Name        string        // remote_servers name
	ZKPath      string        // ZooKeeper prefix of the Replicated tables' paths
	ShardingKey []string      // columns hashed to pick a row's shard
	Insert      string        // "distributed" (synchronous) or "local" (each shard's local tables)
	DDLTimeout  time.Duration // distributed_ddl_task_timeout of the migrations
}

// Enabled reports whether cluster mode is on.
func (c Cluster) Enabled() bool { return c.Name != "" }

// Schema is the cluster as schema renders it.
func (c Cluster) Schema() schema.Cluster {
	if !c.Enabled() {
		return schema.Cluster{}
	}
	return schema.Cluster{Name: c.Name, ZKPath: c.ZKPath, ShardingKey: c.ShardingKey}
}

// Batch bounds each insert and the memory held between fetch and insert.
type Batch struct {
	MaxRows          int
	MaxBytes         int
	MaxAge           time.Duration
	MaxInflightBytes int
	Inserts          int // batches being inserted at once; offsets are still committed in order
	// InsertTimeout bounds one insert attempt and one read-back of it: a hung server is
	// an error within it, well inside the rebalance timeout.
	InsertTimeout time.Duration
}

// Retry is how inserts are retried after a ClickHouse error.
type Retry struct {
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	FatalBackoff   time.Duration
	// UnreadyAfter: /readyz answers not ready once inserts have failed this long with none
	// succeeding (0: never for retryable errors; fatal ones always do).
	UnreadyAfter time.Duration
}

// Checks configures the event checks.
type Checks struct {
	MaxMessageBytes int
	MaxClockSkew    time.Duration
}

// Catalog says where the error catalog and the user's overrides live.
type Catalog struct {
	Path      string // empty: the catalog embedded in the binary
	Overrides string
}

// Metrics configures the HTTP endpoint with /metrics, /healthz and /readyz.
type Metrics struct {
	Listen               string
	MaxUnknownErrorTypes int
	// Pprof serves /debug/pprof/ on the metrics listener; off by default, as profiles
	// expose internals and cost CPU.
	Pprof bool
}

// Alerts configures the generated Prometheus rules (faultline-gen rules --config): severity
// label values, runbook and Grafana links, the ingesters' scrape job.
type Alerts struct {
	SeverityPage   string
	SeverityTicket string
	RunbookURL     string
	GrafanaURL     string
	IngestJob      string
}

// Ingest holds the ingester's own behaviour.
type Ingest struct {
	ShutdownTimeout time.Duration
	MigrateOnStart  bool
	// MemoryLimit is the Go runtime's soft memory limit in bytes (runtime/debug.SetMemoryLimit),
	// key ingest.memory_limit: "auto" (the default) derives it from the batch bounds with
	// AutoMemoryLimit, 0 sets none. The environment variable GOMEMLIMIT, when set, wins.
	MemoryLimit int64
}

// AutoMemoryLimit is ingest.memory_limit's "auto": room for what the batch bounds let the
// ingester hold (the in-flight bytes once as fetched messages and once more as decoded rows
// and their column copies, every batch being inserted), plus a fixed share for the rest
// (clients and their buffers, the catalog, metrics, stacks). With the defaults it is
// 2 x 24 + 16 + 40 = 104 MiB: RSS adds the mapped binary and pages not yet returned to the
// OS, about 15-25 MiB, which keeps the process under 128 MiB.
func AutoMemoryLimit(b Batch) int64 {
	return int64(2*b.MaxInflightBytes + b.Inserts*b.MaxBytes + autoMemoryBase)
}

// autoMemoryBase is AutoMemoryLimit's share for everything the batch bounds do not cover.
const autoMemoryBase = 40 << 20

// minMemoryLimit is the smallest explicit ingest.memory_limit: below it the garbage collector
// would run without pause just to hold the runtime and clients.
const minMemoryLimit = 32 << 20

// Retention is how long each table keeps rows (whole days; 0 keeps them forever) and how
// often the ingester enforces it (0: never; `ingest retention` does it on demand).
type Retention struct {
	Events     time.Duration
	Quarantine time.Duration
	Rollup     time.Duration
	Interval   time.Duration
}

// Query bounds what the query CLI asks of ClickHouse and names the user it asks as: its own
// (read-only by default), at clickhouse.addr and database with clickhouse.tls.
type Query struct {
	Timeout  time.Duration
	MaxRows  int
	Username string
	Password string // from FAULTLINE_QUERY_PASSWORD or query.password_file, never from the YAML file
}

// Log configures log/slog output.
type Log struct {
	Level  string
	Format string
}

// Defaults are the values used for every key the file and environment leave unset. config.yaml
// at the repository root documents each one; a test keeps the two in step.
func Defaults() map[string]any {
	return map[string]any{
		"kafka.brokers":            []string{"127.0.0.1:9092"},
		"kafka.topic":              []string{"api-errors"},
		"kafka.group":              "faultline-ingest",
		"kafka.start_offset":       "earliest",
		"kafka.session_timeout":    "10s",
		"kafka.heartbeat_interval": "3s",
		"kafka.rebalance_timeout":  "30s",
		"kafka.min_fetch_bytes":    1,
		"kafka.max_fetch_bytes":    "10MiB",
		"kafka.max_wait":           "1s",

		"kafka.sasl.mechanism":           "",
		"kafka.sasl.username":            "",
		"kafka.sasl.password_file":       "",
		"kafka.tls.enabled":              false,
		"kafka.tls.ca_file":              "",
		"kafka.tls.cert_file":            "",
		"kafka.tls.key_file":             "",
		"kafka.tls.server_name":          "",
		"kafka.tls.insecure_skip_verify": false,

		"clickhouse.addr":          []string{"127.0.0.1:9000"},
		"clickhouse.database":      "faultline",
		"clickhouse.username":      "default",
		"clickhouse.password_file": "",
		"clickhouse.dial_timeout":  "5s",
		"clickhouse.read_timeout":  "30s",
		"clickhouse.compression":   "lz4",

		"clickhouse.cluster":                  "",
		"clickhouse.cluster_zk_path":          schema.DefaultZKPath,
		"clickhouse.cluster_sharding_key":     schema.DefaultShardingKey(),
		"clickhouse.cluster_insert":           "local",
		"clickhouse.cluster_ddl_timeout":      "60s",
		"clickhouse.tls.enabled":              false,
		"clickhouse.tls.ca_file":              "",
		"clickhouse.tls.cert_file":            "",
		"clickhouse.tls.key_file":             "",
		"clickhouse.tls.server_name":          "",
		"clickhouse.tls.insecure_skip_verify": false,

		"batch.max_rows":           50000,
		"batch.max_bytes":          "16MiB",
		"batch.max_age":            "1s",
		"batch.max_inflight_bytes": "24MiB",
		"batch.inserts":            1,
		"batch.insert_timeout":     "10s",

		"retry.initial_backoff": "100ms",
		"retry.max_backoff":     "10s",
		"retry.fatal_backoff":   "30s",
		"retry.unready_after":   "2m",

		"checks.max_message_bytes": "64KiB",
		"checks.max_clock_skew":    "24h",

		"catalog.path":      "",
		"catalog.overrides": "",

		"metrics.listen":                  "127.0.0.1:9464",
		"metrics.max_unknown_error_types": 50,
		"metrics.pprof":                   false,

		"alerts.severity_page":   "critical",
		"alerts.severity_ticket": "warning",
		"alerts.runbook_url":     "https://github.com/faultline/faultline/blob/main/docs/runbooks",
		"alerts.grafana_url":     "http://127.0.0.1:3000",
		"alerts.ingest_job":      "faultline-ingest",

		"ingest.shutdown_timeout": "30s",
		"ingest.migrate_on_start": true,
		"ingest.memory_limit":     "auto",

		"retention.events":     "30d",
		"retention.quarantine": "7d",
		"retention.rollup":     "400d",
		"retention.interval":   "1h",

		"query.timeout":       "10s",
		"query.max_rows":      1000,
		"query.username":      "faultline_ro",
		"query.password_file": "",

		"log.level":  "info",
		"log.format": "text",
	}
}

// Load reads defaults, then path (if not empty; a missing file named explicitly is an error),
// then environment overrides, and validates the result.
func Load(path string) (*Config, error) {
	v := viper.New()
	for k, val := range Defaults() {
		v.SetDefault(k, val)
	}
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		if err := rejectUnknownKeys(v); err != nil {
			return nil, fmt.Errorf("config file %s: %w", path, err)
		}
		for _, k := range secretKeys {
			if v.InConfig(k) {
				return nil, fmt.Errorf("config file %s: key %s: secrets do not belong in the file; set %s or %s_file", path, k, EnvName(k), k)
			}
		}
	}
	return fromViper(v)
}

// rejectUnknownKeys turns a typo such as batch.max_row into an error instead of a silently
// ignored setting.
func rejectUnknownKeys(v *viper.Viper) error {
	known := Defaults()
	for _, k := range v.AllKeys() {
		if _, ok := known[k]; ok || slices.Contains(secretKeys, k) {
			continue
		}
		if v.InConfig(k) {
			return fmt.Errorf("unknown key %s", k)
		}
	}
	return nil
}

type reader struct {
	v    *viper.Viper
	errs []error
}

func (r *reader) fail(key string, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("key %s (env %s): %s", key, EnvName(key), fmt.Sprintf(format, args...)))
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func (r *reader) str(key string) string {
	s, err := cast.ToStringE(r.v.Get(key))
	if err != nil {
		r.fail(key, "want a string: %v", err)
	}
	return strings.TrimSpace(s)
}

func (r *reader) list(key string) []string {
	raw := r.v.Get(key)
	var items []string
	switch x := raw.(type) {
	case string:
		items = strings.Split(x, ",")
	default:
		s, err := cast.ToStringSliceE(x)
		if err != nil {
			r.fail(key, "want a list of strings: %v", err)
			return nil
		}
		items = s
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	if len(out) == 0 {
		r.fail(key, "must name at least one value")
	}
	return out
}

func (r *reader) integer(key string, min int) int {
	n, err := cast.ToIntE(r.v.Get(key))
	if err != nil {
		r.fail(key, "want an integer, got %v", r.v.Get(key))
		return 0
	}
	if n < min {
		r.fail(key, "must be at least %d, got %d", min, n)
	}
	return n
}

func (r *reader) duration(key string, min time.Duration) time.Duration {
	d, err := cast.ToDurationE(r.v.Get(key))
	if err != nil {
		r.fail(key, "want a duration such as 500ms or 10s, got %v", r.v.Get(key))
		return 0
	}
	if d < min {
		r.fail(key, "must be at least %s, got %s", min, d)
	}
	return d
}

// durationOrZero is duration, with 0 also allowed (0 turns the setting off).
func (r *reader) durationOrZero(key string, min time.Duration) time.Duration {
	d, err := cast.ToDurationE(r.v.Get(key))
	if err != nil {
		r.fail(key, "want a duration such as 2m, or 0 for off, got %v", r.v.Get(key))
		return 0
	}
	if d != 0 && d < min {
		r.fail(key, "must be 0 (off) or at least %s, got %s", min, d)
	}
	return d
}

// days reads a retention: "30d", a duration of whole days ("720h"), or 0 for forever.
func (r *reader) days(key string) time.Duration {
	raw := strings.TrimSpace(cast.ToString(r.v.Get(key)))
	const day = 24 * time.Hour
	if n, ok := strings.CutSuffix(raw, "d"); ok {
		v, err := strconv.Atoi(n)
		if err != nil || v < 0 {
			r.fail(key, "want whole days such as 30d (or 0 to keep forever), got %q", raw)
			return 0
		}
		return time.Duration(v) * day
	}
	d, err := cast.ToDurationE(raw)
	if err != nil || d < 0 || d%day != 0 {
		r.fail(key, "want whole days such as 30d (or 0 to keep forever), got %q", raw)
		return 0
	}
	return d
}

// absURL reads an absolute http(s) URL, for links put into alert annotations.
func (r *reader) absURL(key string) string {
	s := r.str(key)
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		r.fail(key, "%q must be an absolute http:// or https:// URL", s)
	}
	return s
}

func (r *reader) boolean(key string) bool {
	b, err := cast.ToBoolE(r.v.Get(key))
	if err != nil {
		r.fail(key, "want true or false, got %v", r.v.Get(key))
	}
	return b
}

func (r *reader) bytes(key string, min int) int {
	n, err := ParseBytes(r.v.Get(key))
	if err != nil {
		r.fail(key, "%v", err)
		return 0
	}
	if n < min {
		r.fail(key, "must be at least %d bytes, got %d", min, n)
	}
	return n
}

// memoryLimit reads ingest.memory_limit: "auto", 0 (none) or a size of at least
// minMemoryLimit and at least batch.max_inflight_bytes (a soft limit under the bytes the
// ingester is allowed to hold only makes the garbage collector run without pause).
func (r *reader) memoryLimit(key string, b Batch) int64 {
	raw := r.v.Get(key)
	if s, ok := raw.(string); ok && strings.EqualFold(strings.TrimSpace(s), "auto") {
		return AutoMemoryLimit(b)
	}
	n, err := ParseBytes(raw)
	if err != nil {
		r.fail(key, "want auto, 0 (no limit) or a size such as 100MiB: %v", err)
		return 0
	}
	switch {
	case n == 0:
	case n < minMemoryLimit: // negative sizes too
		r.fail(key, "must be auto, 0 (no limit) or at least %d bytes, got %d", minMemoryLimit, n)
	case n < b.MaxInflightBytes:
		r.fail(key, "must be at least batch.max_inflight_bytes (%d), got %d", b.MaxInflightBytes, n)
	}
	return int64(n)
}

func (r *reader) oneOf(key string, allowed ...string) string {
	s := strings.ToLower(r.str(key))
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	r.fail(key, "%q is not one of %s", s, strings.Join(allowed, ", "))
	return s
}

// clusterSection reads clickhouse.cluster and, when it names a cluster, the rest of
// cluster mode.
func (r *reader) clusterSection() Cluster {
	c := Cluster{Name: r.str("clickhouse.cluster")}
	if !c.Enabled() {
		return c
	}
	if err := schema.ValidateClusterName(c.Name); err != nil {
		r.fail("clickhouse.cluster", "%v", err)
	}
	c.ZKPath = r.str("clickhouse.cluster_zk_path")
	if err := schema.ValidateZKPath(c.ZKPath); err != nil {
		r.fail("clickhouse.cluster_zk_path", "%v", err)
	}
	c.ShardingKey = r.list("clickhouse.cluster_sharding_key")
	if err := schema.ValidateShardingKey(c.ShardingKey); err != nil {
		r.fail("clickhouse.cluster_sharding_key", "%v", err)
	}
	c.Insert = r.oneOf("clickhouse.cluster_insert", "distributed", "local")
	c.DDLTimeout = r.duration("clickhouse.cluster_ddl_timeout", time.Second)
	return c
}

func (r *reader) hostPorts(key string) []string {
	addrs := r.list(key)
	for _, a := range addrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			r.fail(key, "%q is not host:port", a)
		}
	}
	return addrs
}

var groupRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,249}$`)

// labelValueRE bounds values the rule generator puts into PromQL matchers and labels.
var labelValueRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,63}$`)

func fromViper(v *viper.Viper) (*Config, error) {
	r := &reader{v: v}
	c := &Config{}
	c.Kafka = Kafka{
		Brokers:           r.hostPorts("kafka.brokers"),
		Topics:            r.list("kafka.topic"),
		Group:             r.str("kafka.group"),
		StartOffset:       r.oneOf("kafka.start_offset", "earliest", "latest"),
		SessionTimeout:    r.duration("kafka.session_timeout", time.Second),
		HeartbeatInterval: r.duration("kafka.heartbeat_interval", 100*time.Millisecond),
		RebalanceTimeout:  r.duration("kafka.rebalance_timeout", time.Second),
		MinFetchBytes:     r.integer("kafka.min_fetch_bytes", 1),
		MaxFetchBytes:     r.bytes("kafka.max_fetch_bytes", 1024),
		MaxWait:           r.duration("kafka.max_wait", 10*time.Millisecond),
	}
	if !groupRE.MatchString(c.Kafka.Group) {
		r.fail("kafka.group", "%q must be 1-249 of [A-Za-z0-9._-]", c.Kafka.Group)
	}
	if c.Kafka.HeartbeatInterval >= c.Kafka.SessionTimeout {
		r.fail("kafka.heartbeat_interval", "must be shorter than kafka.session_timeout (%s)", c.Kafka.SessionTimeout)
	}
	c.ClickHouse = ClickHouse{
		Addr:        r.hostPorts("clickhouse.addr"),
		Database:    r.str("clickhouse.database"),
		Username:    r.str("clickhouse.username"),
		DialTimeout: r.duration("clickhouse.dial_timeout", 100*time.Millisecond),
		ReadTimeout: r.duration("clickhouse.read_timeout", time.Second),
		Compression: r.oneOf("clickhouse.compression", "lz4", "zstd", "none"),
	}
	if !regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`).MatchString(c.ClickHouse.Database) {
		r.fail("clickhouse.database", "%q must be a plain identifier ([A-Za-z_][A-Za-z0-9_]*)", c.ClickHouse.Database)
	}
	c.ClickHouse.Cluster = r.clusterSection()
	c.ClickHouse.Password = r.secret("clickhouse.password")
	c.ClickHouse.TLS = r.tlsSection("clickhouse.tls")
	c.Kafka.SASL = r.saslSection("kafka.sasl")
	c.Kafka.TLS = r.tlsSection("kafka.tls")
	c.Batch = Batch{
		MaxRows:          r.integer("batch.max_rows", 1),
		MaxBytes:         r.bytes("batch.max_bytes", 1024),
		MaxAge:           r.duration("batch.max_age", 10*time.Millisecond),
		MaxInflightBytes: r.bytes("batch.max_inflight_bytes", 64*1024),
		Inserts:          r.integer("batch.inserts", 1),
		InsertTimeout:    r.duration("batch.insert_timeout", 100*time.Millisecond),
	}
	if c.Batch.InsertTimeout >= c.Kafka.RebalanceTimeout/2 {
		// A revoked partition waits out its inserts in flight before it is handed over,
		// within half the rebalance timeout.
		r.fail("batch.insert_timeout", "must be shorter than half of kafka.rebalance_timeout (%s), got %s", c.Kafka.RebalanceTimeout/2, c.Batch.InsertTimeout)
	}
	if c.Batch.MaxRows > 1_000_000 {
		// ClickHouse splits larger inserts into several blocks (max_insert_block_size).
		r.fail("batch.max_rows", "must be at most 1000000, got %d", c.Batch.MaxRows)
	}
	if c.Batch.MaxInflightBytes < c.Batch.MaxBytes {
		r.fail("batch.max_inflight_bytes", "must be at least batch.max_bytes (%d), got %d", c.Batch.MaxBytes, c.Batch.MaxInflightBytes)
	}
	c.Retry = Retry{
		InitialBackoff: r.duration("retry.initial_backoff", time.Millisecond),
		MaxBackoff:     r.duration("retry.max_backoff", time.Millisecond),
		FatalBackoff:   r.duration("retry.fatal_backoff", time.Millisecond),
		UnreadyAfter:   r.durationOrZero("retry.unready_after", time.Second),
	}
	if c.Retry.MaxBackoff < c.Retry.InitialBackoff {
		r.fail("retry.max_backoff", "must be at least retry.initial_backoff (%s)", c.Retry.InitialBackoff)
	}
	c.Checks = Checks{
		MaxMessageBytes: r.bytes("checks.max_message_bytes", 256),
		MaxClockSkew:    r.duration("checks.max_clock_skew", time.Second),
	}
	if c.Checks.MaxMessageBytes > c.Batch.MaxInflightBytes {
		r.fail("checks.max_message_bytes", "must not exceed batch.max_inflight_bytes (%d)", c.Batch.MaxInflightBytes)
	}
	c.Catalog = Catalog{Path: r.str("catalog.path"), Overrides: r.str("catalog.overrides")}
	c.Metrics = Metrics{
		Listen:               r.str("metrics.listen"),
		MaxUnknownErrorTypes: r.integer("metrics.max_unknown_error_types", 0),
		Pprof:                r.boolean("metrics.pprof"),
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			r.fail("metrics.listen", "%q is not host:port", c.Metrics.Listen)
		}
	}
	c.Alerts = Alerts{
		SeverityPage:   r.str("alerts.severity_page"),
		SeverityTicket: r.str("alerts.severity_ticket"),
		RunbookURL:     r.absURL("alerts.runbook_url"),
		GrafanaURL:     r.absURL("alerts.grafana_url"),
		IngestJob:      r.str("alerts.ingest_job"),
	}
	for _, k := range []string{"alerts.severity_page", "alerts.severity_ticket", "alerts.ingest_job"} {
		if v := r.str(k); !labelValueRE.MatchString(v) {
			r.fail(k, "%q must be 1-63 of [A-Za-z0-9_.:-]", v)
		}
	}
	c.Ingest = Ingest{
		ShutdownTimeout: r.duration("ingest.shutdown_timeout", time.Second),
		MigrateOnStart:  r.boolean("ingest.migrate_on_start"),
		MemoryLimit:     r.memoryLimit("ingest.memory_limit", c.Batch),
	}
	c.Retention = Retention{
		Events:     r.days("retention.events"),
		Quarantine: r.days("retention.quarantine"),
		Rollup:     r.days("retention.rollup"),
		Interval:   r.duration("retention.interval", 0),
	}
	if c.Retention.Interval > 0 && c.Retention.Interval < time.Minute {
		r.fail("retention.interval", "must be 0 (off) or at least 1m, got %s", c.Retention.Interval)
	}
	c.Query = Query{
		Timeout:  r.duration("query.timeout", 100*time.Millisecond),
		MaxRows:  r.integer("query.max_rows", 1),
		Username: r.str("query.username"),
		Password: r.secret("query.password"),
	}
	if c.Query.Username == "" {
		r.fail("query.username", "must name the ClickHouse user the query CLI connects as")
	}
	c.Log = Log{
		Level:  r.oneOf("log.level", "debug", "info", "warn", "error"),
		Format: r.oneOf("log.format", "text", "json"),
	}
	if len(r.errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(r.errs...))
	}
	return c, nil
}

// ParseBytes reads a size such as 65536, "64KiB", "16MiB" or "1GiB".
func ParseBytes(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case int64:
		return int(x), nil
	case float64:
		if x != float64(int(x)) {
			return 0, fmt.Errorf("want a whole number of bytes, got %v", x)
		}
		return int(x), nil
	}
	s := strings.TrimSpace(cast.ToString(v))
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("want a size such as 65536, 64KiB or 16MiB, got %v", v)
	}
	return n * mult, nil
}
