package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cast"
	"github.com/spf13/viper"

	"github.com/faultline/faultline/schema"
)

// reader reads config values by key from viper, checking each, and collects every bad
// value's error, naming its key and environment variable.
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
	return r.durationFrom(key, min, false)
}

// durationOrZero is duration, with 0 also allowed (0 turns the setting off).
func (r *reader) durationOrZero(key string, min time.Duration) time.Duration {
	return r.durationFrom(key, min, true)
}

func (r *reader) durationFrom(key string, min time.Duration, zeroIsOff bool) time.Duration {
	d, err := cast.ToDurationE(r.v.Get(key))
	switch {
	case err != nil && zeroIsOff:
		r.fail(key, "want a duration such as 2m, or 0 for off, got %v", r.v.Get(key))
	case err != nil:
		r.fail(key, "want a duration such as 500ms or 10s, got %v", r.v.Get(key))
	case zeroIsOff && d != 0 && d < min:
		r.fail(key, "must be 0 (off) or at least %s, got %s", min, d)
	case !zeroIsOff && d < min:
		r.fail(key, "must be at least %s, got %s", min, d)
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
