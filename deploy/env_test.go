// Package deploy_test checks the deploy files (compose, Kubernetes) offline against the code:
// every FAULTLINE_* variable is a configuration key, every port and path agrees with config.yaml
// and with the files mounted, and the generated rules and dashboards are the generators' output.
package deploy_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/faultline/faultline/config"
)

// pendingKeys are the secured-connection keys that branch `secure` adds to config (issue 11,
// points 1-2). The deploy files already use them; until config knows a key, its variable is
// accepted here and only here. Once merged, every key below is in config.Defaults() (or read
// as a secret) and is checked like any other: nothing else is tolerated.
var pendingKeys = []string{
	"kafka.sasl.mechanism", "kafka.sasl.username", "kafka.sasl.password_file",
	"kafka.tls.enabled", "kafka.tls.ca_file", "kafka.tls.cert_file", "kafka.tls.key_file",
	"kafka.tls.server_name", "kafka.tls.insecure_skip_verify",
	"clickhouse.tls.enabled", "clickhouse.tls.ca_file", "clickhouse.tls.cert_file", "clickhouse.tls.key_file",
	"clickhouse.tls.server_name", "clickhouse.tls.insecure_skip_verify",
	"query.username",
}

// secretKeys are read only from the environment (or their *_file key), never from a file, so
// they are not in config.Defaults(). kafka.sasl.password and query.password come with branch
// secure (FAULTLINE_KAFKA_SASL_PASSWORD, FAULTLINE_QUERY_PASSWORD).
var secretKeys = []string{"clickhouse.password", "kafka.sasl.password", "query.password"}

// knownEnv is every FAULTLINE_* variable faultline reads: one per configuration key, plus the
// secrets.
func knownEnv() map[string]bool {
	known := map[string]bool{}
	for k := range config.Defaults() {
		known[config.EnvName(k)] = true
	}
	for _, k := range secretKeys {
		known[config.EnvName(k)] = true
	}
	return known
}

// checkEnv fails for a FAULTLINE_* variable that names no configuration key. where says which
// file and object it came from.
func checkEnv(t *testing.T, where string, names []string) {
	t.Helper()
	known := knownEnv()
	pending := map[string]bool{}
	for _, k := range pendingKeys {
		if !known[config.EnvName(k)] {
			pending[config.EnvName(k)] = true
		}
	}
	for _, n := range names {
		if !strings.HasPrefix(n, config.EnvPrefix+"_") || known[n] {
			continue
		}
		if pending[n] {
			t.Logf("%s: %s is a key of branch secure not yet in config; accepted until it lands", where, n)
			continue
		}
		t.Errorf("%s: %s is no configuration key (config.yaml; env FAULTLINE_<SECTION>_<KEY>)", where, n)
	}
}

// loadWithEnv loads the configuration file at path (none when "") with an object's environment,
// as the process would: a bad value fails naming its key. Variables of pending keys are left out (config on this branch
// does not read them yet).
func loadWithEnv(t *testing.T, where, path string, env map[string]string) *config.Config {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for k, v := range env {
		if strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, v)
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("%s: the configuration its environment gives does not load: %v", where, err)
	}
	return cfg
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
