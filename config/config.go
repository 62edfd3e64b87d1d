// Package config loads faultline's configuration: defaults, then a YAML file, then
// environment variables FAULTLINE_<SECTION>_<KEY>. Every value is checked at load time and a
// bad one is reported with the key that holds it.
package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/faultline/faultline/schema"
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
