module github.com/faultline/faultline

go 1.26.0

// Pinned, and why:
// - clickhouse-go v2.25.0: from v2.27 batches are sent as INSERT ... FORMAT Native, which the
//   ClickHouse 18.16 server available here answers with an empty header ("expected 0
//   arguments"); v2.25.0 also works with current servers.
// - kafka-go v0.4.51: the consumer-group and Generation API the ingester is built on, verified
//   against kfake (commits per batch, rebalances, restarts). It is the newest release the
//   module proxy serves here. Its partition Reader cost about 1.3 us of CPU per message in the
//   1M drain (lz4 decompression 0.36, the key and value copies 0.32, varints 0.23, the channel
//   to FetchMessage 0.13, a read deadline per message 0.08), 11-14% of the ingester's CPU, and
//   no ReaderConfig setting removes any of it; pipeline/fetch.go reads its Conn and Batch
//   directly instead, which leaves the decompression, copies and varints.
// - kfake has no tags: this pseudo-version is the one verified here; it needs franz-go v1.22.3
//   and kmsg v1.15.1 (the versions its own go.mod asks for do not build), and go 1.26.
// - chdb-go v1.11.0: ClickHouse 26.7 in-process (purego, no cgo) for dialect tests, matching
//   the npm library @chdb/lib-linux-x64-gnu@26.7.3-stable.1 that scripts/deps.sh installs.
// - xdg-go/scram v1.1.2 (+ pbkdf2 v1.0.0, stringprep v1.0.4): what kafka-go v0.4.51's
//   sasl/scram asks for; SCRAM-SHA-256/512 verified against kfake with them.
// - grafana-foundation-sdk/go v0.0.22: dashboards as code; the version whose strict decoding
//   the dashboard tests rely on.
// - prometheus/common v0.66.1: already required by client_golang v1.23.2; its version package
//   holds the -ldflags build stamps (internal/buildinfo), as in Prometheus' own binaries.
// - gonum.org/v1/plot v0.17.0: query trend/top --out pictures (chart/); the newest release, it
//   builds with go 1.26 and only adds modules (fonts embedded, x/image), bumping none we had.
// - schollz/progressbar/v3 v3.18.0: progress bars (progress/); v3.18.0 only adds x/term,
//   colorstring and uniseg.
// - compose-go v2.16.2: loads deploy/compose as `docker compose` does; v2.17 needs a newer Go.
// - k8s.io/api + apimachinery v0.37.2 and prometheus-operator monitoring v0.95.2: strict
//   decoding of the rendered deploy/kubernetes objects. They raise only indirect modules
//   (golang.org/x/sys, x/text, x/sync, protobuf, yaml/v2); clickhouse-go and kafka-go stay.
require (
	github.com/ClickHouse/clickhouse-go/v2 v2.25.0
	github.com/chdb-io/chdb-go v1.11.0
	github.com/grafana/grafana-foundation-sdk/go v0.0.22
	github.com/prometheus/client_golang v1.23.2
	github.com/segmentio/kafka-go v0.4.51
	github.com/spf13/cobra v1.10.2
	github.com/spf13/viper v1.21.0
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
)

require (
	github.com/spf13/cast v1.10.0
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
	go.yaml.in/yaml/v3 v3.0.4
)

// Deploy-file tests only (deploy/*_test.go); none of these is linked into a command.
require (
	github.com/compose-spec/compose-go/v2 v2.16.2
	github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring v0.95.2
	k8s.io/api v0.37.2
	k8s.io/apimachinery v0.37.2
)

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ClickHouse/ch-go v0.61.5 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/andybalholm/brotli v1.1.0 // indirect
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/distribution/reference v0.5.0 // indirect
	github.com/docker/go-connections v0.5.0 // indirect
	github.com/docker/go-units v0.5.0 // indirect
	github.com/ebitengine/purego v0.8.2 // indirect
	github.com/fsnotify/fsnotify v1.9.0 // indirect
	github.com/fxamacker/cbor/v2 v2.9.3 // indirect
	github.com/go-faster/city v1.0.1 // indirect
	github.com/go-faster/errors v0.7.1 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-viper/mapstructure/v2 v2.4.0 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/json-iterator/go v1.1.12 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/kylelemons/godebug v1.1.0 // indirect
	github.com/mattn/go-shellwords v1.0.12 // indirect
	github.com/mitchellh/colorstring v0.0.0-20190213212951-d06e56a500db // indirect
	github.com/modern-go/concurrent v0.0.0-20180306012644-bacd9c7ef1dd // indirect
	github.com/modern-go/reflect2 v1.0.3-0.20250322232337-35a7c28c31ee // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/paulmach/orb v0.11.1 // indirect
	github.com/pelletier/go-toml/v2 v2.2.4 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1
	github.com/prometheus/procfs v0.16.1 // indirect
	github.com/rivo/uniseg v0.4.7 // indirect
	github.com/sagikazarmark/locafero v0.11.0 // indirect
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.1 // indirect
	github.com/schollz/progressbar/v3 v3.18.0
	github.com/segmentio/asm v1.2.0 // indirect
	github.com/shopspring/decimal v1.4.0 // indirect
	github.com/sirupsen/logrus v1.10.1 // indirect
	github.com/sourcegraph/conc v0.3.1-0.20240121214520-5f936abd7ae8 // indirect
	github.com/spf13/afero v1.15.0 // indirect
	github.com/spf13/pflag v1.0.10 // indirect
	github.com/subosito/gotenv v1.6.0 // indirect
	github.com/twmb/franz-go v1.22.3 // indirect
	github.com/x448/float16 v0.8.4 // indirect
	github.com/xdg-go/pbkdf2 v1.0.0 // indirect
	github.com/xdg-go/scram v1.1.2 // indirect
	github.com/xdg-go/stringprep v1.0.4 // indirect
	github.com/xhit/go-str2duration/v2 v2.1.0 // indirect
	go.opentelemetry.io/otel v1.26.0 // indirect
	go.opentelemetry.io/otel/trace v1.26.0 // indirect
	go.yaml.in/yaml/v2 v2.4.4 // indirect
	go.yaml.in/yaml/v4 v4.0.0-rc.4 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	golang.org/x/term v0.45.0 // indirect
	golang.org/x/text v0.41.0 // indirect
	gonum.org/v1/plot v0.17.0
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af // indirect
	gopkg.in/inf.v0 v0.9.1 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	k8s.io/klog/v2 v2.140.0 // indirect
	k8s.io/kube-openapi v0.0.0-20260821135717-be32def86098 // indirect
	k8s.io/utils v0.0.0-20261023123148-ca04ba58ecab // indirect
	sigs.k8s.io/json v0.0.0-20250730193827-2d320260d730 // indirect
	sigs.k8s.io/randfill v1.0.0 // indirect
	sigs.k8s.io/structured-merge-diff/v6 v6.4.2 // indirect
	sigs.k8s.io/yaml v1.6.0 // indirect
)
