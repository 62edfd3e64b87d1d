package config

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/spf13/viper"
)

func repoConfig(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The documented file must name exactly the keys the code knows, with the same defaults.
func TestConfigYAMLDocumentsEveryDefault(t *testing.T) {
	v := viper.New()
	v.SetConfigFile(repoConfig(t))
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	var fileKeys, codeKeys []string
	fileKeys = v.AllKeys()
	for k := range Defaults() {
		codeKeys = append(codeKeys, k)
	}
	sort.Strings(fileKeys)
	sort.Strings(codeKeys)
	if strings.Join(fileKeys, ",") != strings.Join(codeKeys, ",") {
		t.Fatalf("config.yaml keys differ from Defaults()\nfile: %v\ncode: %v", fileKeys, codeKeys)
	}
	fromFile, err := Load(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	fromDefaults, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := *fromFile, *fromDefaults; !equalConfig(a, b) {
		t.Fatalf("config.yaml values differ from Defaults():\nfile:     %+v\ndefaults: %+v", a, b)
	}
}

func equalConfig(a, b Config) bool {
	return strings.Join(a.Kafka.Brokers, ",") == strings.Join(b.Kafka.Brokers, ",") &&
		strings.Join(a.Kafka.Topics, ",") == strings.Join(b.Kafka.Topics, ",") &&
		strings.Join(a.ClickHouse.Addr, ",") == strings.Join(b.ClickHouse.Addr, ",") &&
		a.Kafka.Group == b.Kafka.Group && a.Kafka.SessionTimeout == b.Kafka.SessionTimeout &&
		a.Kafka.MaxFetchBytes == b.Kafka.MaxFetchBytes && a.Batch == b.Batch && a.Retry == b.Retry &&
		a.Checks == b.Checks && a.Catalog == b.Catalog && a.Metrics == b.Metrics &&
		a.Ingest == b.Ingest && a.Query == b.Query && a.Log == b.Log &&
		a.ClickHouse.Database == b.ClickHouse.Database && a.ClickHouse.Compression == b.ClickHouse.Compression &&
		a.Kafka.SASL == b.Kafka.SASL && a.Kafka.TLS == b.Kafka.TLS && a.ClickHouse.TLS == b.ClickHouse.TLS &&
		a.ClickHouse.Cluster.Name == b.ClickHouse.Cluster.Name
}

// Cluster mode reads its keys only when clickhouse.cluster names a cluster; bad values
// name their key.
func TestClusterKeys(t *testing.T) {
	c, err := Load("")
	if err != nil || c.ClickHouse.Cluster.Enabled() || c.ClickHouse.Cluster.Schema().Enabled() {
		t.Fatalf("default is a single server: %+v, %v", c.ClickHouse.Cluster, err)
	}
	t.Setenv("FAULTLINE_CLICKHOUSE_CLUSTER", "prod")
	c, err = Load("")
	if err != nil {
		t.Fatal(err)
	}
	got := c.ClickHouse.Cluster
	if got.Name != "prod" || got.ZKPath != "/clickhouse/tables/faultline" || strings.Join(got.ShardingKey, ",") != "kafka_topic,kafka_partition" ||
		got.Insert != "local" || got.DDLTimeout != time.Minute {
		t.Fatalf("cluster defaults: %+v", got)
	}
	if s := got.Schema(); s.Name != "prod" || s.Validate() != nil {
		t.Fatalf("schema cluster %+v: %v", s, s.Validate())
	}
	for _, tc := range []struct{ env, value, wantKey string }{
		{"FAULTLINE_CLICKHOUSE_CLUSTER", "prod-eu", "clickhouse.cluster"},
		{"FAULTLINE_CLICKHOUSE_CLUSTER_ZK_PATH", "clickhouse/tables", "clickhouse.cluster_zk_path"},
		{"FAULTLINE_CLICKHOUSE_CLUSTER_ZK_PATH", "/ch/{shard}", "clickhouse.cluster_zk_path"},
		{"FAULTLINE_CLICKHOUSE_CLUSTER_ZK_PATH", "/ch/x'y", "clickhouse.cluster_zk_path"},
		{"FAULTLINE_CLICKHOUSE_CLUSTER_SHARDING_KEY", "rand()", "clickhouse.cluster_sharding_key"},
		{"FAULTLINE_CLICKHOUSE_CLUSTER_SHARDING_KEY", "kafka_topic,kafka_topic", "clickhouse.cluster_sharding_key"},
		{"FAULTLINE_CLICKHOUSE_CLUSTER_INSERT", "async", "clickhouse.cluster_insert"},
		{"FAULTLINE_CLICKHOUSE_CLUSTER_DDL_TIMEOUT", "10ms", "clickhouse.cluster_ddl_timeout"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := Load("")
			if err == nil || !strings.Contains(err.Error(), "key "+tc.wantKey+" ") {
				t.Fatalf("error does not name key %s: %v", tc.wantKey, err)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Kafka.StartOffset != "earliest" || c.Batch.MaxRows != 50000 || c.Batch.MaxBytes != 16<<20 || c.Batch.MaxInflightBytes != 24<<20 ||
		c.Checks.MaxMessageBytes != 64<<10 || c.ClickHouse.Database != "faultline" || c.Batch.MaxAge != time.Second {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

// ingest.memory_limit: auto follows the batch bounds, a size is taken as it is, 0 is none.
func TestMemoryLimit(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want int64
	}{
		{nil, 104 << 20}, // the defaults: 2 x 24 + 16 + 40 MiB, for an RSS under 128 MiB
		{map[string]string{"FAULTLINE_INGEST_MEMORY_LIMIT": "AUTO", "FAULTLINE_BATCH_MAX_INFLIGHT_BYTES": "64MiB",
			"FAULTLINE_BATCH_MAX_BYTES": "32MiB", "FAULTLINE_BATCH_INSERTS": "2"}, (2*64 + 2*32 + 40) << 20},
		{map[string]string{"FAULTLINE_INGEST_MEMORY_LIMIT": "256MiB"}, 256 << 20},
		{map[string]string{"FAULTLINE_INGEST_MEMORY_LIMIT": "0"}, 0},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := Load("")
			if err != nil {
				t.Fatal(err)
			}
			if c.Ingest.MemoryLimit != tc.want {
				t.Errorf("ingest.memory_limit = %d, want %d", c.Ingest.MemoryLimit, tc.want)
			}
			if tc.env == nil && c.Ingest.MemoryLimit != AutoMemoryLimit(c.Batch) {
				t.Errorf("default ingest.memory_limit %d is not auto's %d", c.Ingest.MemoryLimit, AutoMemoryLimit(c.Batch))
			}
		})
	}
}

func TestRetention(t *testing.T) {
	day := 24 * time.Hour
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.Events != 30*day || c.Retention.Quarantine != 7*day || c.Retention.Rollup != 400*day || c.Retention.Interval != time.Hour {
		t.Fatalf("retention defaults %+v", c.Retention)
	}
	if c.Retention.Quarantine >= c.Retention.Events {
		t.Errorf("quarantine (raw payloads) keeps %s, not less than events' %s", c.Retention.Quarantine, c.Retention.Events)
	}
	for in, want := range map[string]time.Duration{"0": 0, "0d": 0, "14d": 14 * day, "48h": 2 * day} {
		t.Setenv("FAULTLINE_RETENTION_EVENTS", in)
		c, err := Load("")
		if err != nil || c.Retention.Events != want {
			t.Errorf("retention.events %q = %v, %v; want %s", in, c, err, want)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Setenv("FAULTLINE_KAFKA_BROKERS", "10.1.1.1:9092, 10.1.1.2:9092")
	t.Setenv("FAULTLINE_KAFKA_TOPIC", "a,b")
	t.Setenv("FAULTLINE_KAFKA_GROUP", "g2")
	t.Setenv("FAULTLINE_CLICKHOUSE_ADDR", "ch:9440")
	t.Setenv("FAULTLINE_CLICKHOUSE_DATABASE", "errs")
	t.Setenv("FAULTLINE_BATCH_MAX_ROWS", "123")
	t.Setenv("FAULTLINE_BATCH_MAX_AGE", "250ms")
	t.Setenv("FAULTLINE_CLICKHOUSE_PASSWORD", "s3cret")
	t.Setenv("FAULTLINE_RETRY_UNREADY_AFTER", "0") // off
	c, err := Load(repoConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.Kafka.Brokers, "|"); got != "10.1.1.1:9092|10.1.1.2:9092" {
		t.Errorf("brokers = %q", got)
	}
	if got := strings.Join(c.Kafka.Topics, "|"); got != "a|b" {
		t.Errorf("topics = %q", got)
	}
	if c.Kafka.Group != "g2" || c.ClickHouse.Addr[0] != "ch:9440" || c.ClickHouse.Database != "errs" ||
		c.Batch.MaxRows != 123 || c.Batch.MaxAge != 250*time.Millisecond || c.ClickHouse.Password != "s3cret" ||
		c.Retry.UnreadyAfter != 0 {
		t.Fatalf("overrides not applied: %+v", c)
	}
}

func TestBadValuesNameTheirKey(t *testing.T) {
	cases := []struct {
		env, value, wantKey string
	}{
		{"FAULTLINE_BATCH_MAX_ROWS", "lots", "batch.max_rows"},
		{"FAULTLINE_BATCH_MAX_ROWS", "0", "batch.max_rows"},
		{"FAULTLINE_BATCH_MAX_ROWS", "2000000", "batch.max_rows"},
		{"FAULTLINE_BATCH_MAX_AGE", "soon", "batch.max_age"},
		{"FAULTLINE_BATCH_MAX_BYTES", "12 parsecs", "batch.max_bytes"},
		{"FAULTLINE_KAFKA_BROKERS", "no-port", "kafka.brokers"},
		{"FAULTLINE_KAFKA_START_OFFSET", "middle", "kafka.start_offset"},
		{"FAULTLINE_CLICKHOUSE_DATABASE", "x; DROP TABLE y", "clickhouse.database"},
		{"FAULTLINE_CLICKHOUSE_COMPRESSION", "gzip", "clickhouse.compression"},
		{"FAULTLINE_LOG_LEVEL", "loud", "log.level"},
		{"FAULTLINE_INGEST_MIGRATE_ON_START", "perhaps", "ingest.migrate_on_start"},
		{"FAULTLINE_KAFKA_HEARTBEAT_INTERVAL", "1m", "kafka.heartbeat_interval"},
		{"FAULTLINE_METRICS_LISTEN", "9464", "metrics.listen"},
		{"FAULTLINE_RETENTION_EVENTS", "a month", "retention.events"},
		{"FAULTLINE_RETENTION_QUARANTINE", "36h", "retention.quarantine"},
		{"FAULTLINE_RETENTION_ROLLUP", "-1d", "retention.rollup"},
		{"FAULTLINE_RETENTION_INTERVAL", "5s", "retention.interval"},
		{"FAULTLINE_ALERTS_SEVERITY_PAGE", `crit"ical`, "alerts.severity_page"},
		{"FAULTLINE_ALERTS_SEVERITY_TICKET", "warn ing", "alerts.severity_ticket"},
		{"FAULTLINE_ALERTS_INGEST_JOB", "a job", "alerts.ingest_job"},
		{"FAULTLINE_ALERTS_GRAFANA_URL", "grafana:3000", "alerts.grafana_url"},
		{"FAULTLINE_ALERTS_RUNBOOK_URL", "docs/runbooks", "alerts.runbook_url"},
		{"FAULTLINE_BATCH_INSERT_TIMEOUT", "15s", "batch.insert_timeout"}, // half the rebalance timeout
		{"FAULTLINE_BATCH_INSERT_TIMEOUT", "1ms", "batch.insert_timeout"},
		{"FAULTLINE_METRICS_PPROF", "maybe", "metrics.pprof"},
		{"FAULTLINE_RETRY_UNREADY_AFTER", "soon", "retry.unready_after"},
		{"FAULTLINE_RETRY_UNREADY_AFTER", "10ms", "retry.unready_after"},
		{"FAULTLINE_INGEST_MEMORY_LIMIT", "lots", "ingest.memory_limit"},
		{"FAULTLINE_INGEST_MEMORY_LIMIT", "1MiB", "ingest.memory_limit"},
		{"FAULTLINE_INGEST_MEMORY_LIMIT", "-64MiB", "ingest.memory_limit"},
		{"FAULTLINE_INGEST_MEMORY_LIMIT", "40MiB", "ingest.memory_limit"}, // under max_inflight_bytes (set below)
	}
	for _, tc := range cases {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			if tc.env == "FAULTLINE_INGEST_MEMORY_LIMIT" {
				t.Setenv("FAULTLINE_BATCH_MAX_INFLIGHT_BYTES", "48MiB")
			}
			_, err := Load("")
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), "key "+tc.wantKey+" ") {
				t.Fatalf("error does not name key %s: %v", tc.wantKey, err)
			}
		})
	}
}

func TestFileErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct{ name, body, want string }{
		{"typo.yaml", "batch:\n  max_row: 5\n", "unknown key batch.max_row"},
		{"secret.yaml", "clickhouse:\n  password: hunter2\n", "key clickhouse.password"},
		{"bad.yaml", "batch: [\n", "config file"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(write(tc.name, tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("a missing file named explicitly must be an error")
	}
}

func TestPasswordFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAULTLINE_CLICKHOUSE_PASSWORD_FILE", p)
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if c.ClickHouse.Password != "from-file" {
		t.Fatalf("password = %q", c.ClickHouse.Password)
	}
}

func TestParseBytes(t *testing.T) {
	cases := []struct {
		in   any
		want int
		bad  bool
	}{
		{65536, 65536, false}, {"64KiB", 65536, false}, {"16MiB", 16 << 20, false},
		{"1GiB", 1 << 30, false}, {"10MB", 10_000_000, false}, {"12B", 12, false},
		{"x", 0, true}, {1.5, 0, true},
	}
	for _, tc := range cases {
		got, err := ParseBytes(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseBytes(%v) = %d, %v", tc.in, got, err)
		}
	}
}
