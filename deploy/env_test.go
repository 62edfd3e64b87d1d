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

// secretKeys are read only from the environment (or their *_file key), never from a file, so
// they are not in config.Defaults().
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
	for _, n := range names {
		if !strings.HasPrefix(n, config.EnvPrefix+"_") || known[n] {
			continue
		}
		t.Errorf("%s: %s is no configuration key (config.yaml; env FAULTLINE_<SECTION>_<KEY>)", where, n)
	}
}

// loadWithEnv loads the configuration file at path (none when "") with an object's environment,
// as the process would: a bad value fails naming its key.
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
