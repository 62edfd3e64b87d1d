// Package metrics holds what faultline's metrics share: the namespace, the bounds on the
// error_type and status_code labels (UnknownTypes, StatusLabel, MaxEventSeries) and the info
// gauges of the build and the catalog. Each package declares its own metrics next to their
// use (pipeline, retention), on a registry passed in, never on a global one, so tests and
// several pipelines in one process stay apart.
//
// Label values always come from bounded sets: error types from the catalog (unknown ones
// through UnknownTypes), reasons, flags, classes and triggers from constants, partitions from
// the topics' own partition counts. Request ids, messages and URLs are never labels.
package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/buildinfo"
)

// Namespace prefixes every metric name.
const Namespace = "faultline"

// OtherUnknown is the error_type label shared by unknown error types past the first
// metrics.max_unknown_error_types distinct names.
const OtherUnknown = "_other_unknown"

// Environments are the values of the environment label.
var Environments = []string{"live", "test", "unknown"}

// CatalogType is what the metrics need to know of one catalog entry to export it at zero.
type CatalogType struct {
	ErrorType  string
	Category   string
	StatusCode string
}

// CatalogTypes are the entries of cat, as the metrics export them.
func CatalogTypes(cat *catalog.Catalog) []CatalogType {
	var out []CatalogType
	for _, e := range cat.Entries() {
		out = append(out, CatalogType{ErrorType: e.ErrorType, Category: e.Category, StatusCode: strconv.Itoa(e.StatusCode)})
	}
	return out
}

// NewInfo creates faultline_catalog_info (the catalog in use: its version and number of
// entries) and faultline_build_info on reg, each set to 1.
func NewInfo(reg prometheus.Registerer, catalogVersion string, catalogEntries int) {
	catalog := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "catalog_info",
		Help: "The catalog in use: 1 with its version and size."}, []string{"version", "entries"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help: "The running build: 1 with its version, commit, build date and Go version."}, []string{"version", "revision", "build_date", "goversion"})
	reg.MustRegister(catalog, build)
	catalog.WithLabelValues(catalogVersion, strconv.Itoa(catalogEntries)).Set(1)
	bi := buildinfo.Get()
	build.WithLabelValues(bi.Version, bi.Revision, bi.BuildDate, bi.GoVersion).Set(1)
}

// UnknownIdle is how long an unknown error type keeps its label slot without being seen.
// A full set of slots gives the slot of the longest-idle name past it to a new name, and
// that name's series are deleted, so a flood of junk names cannot lock real new types out.
const UnknownIdle = time.Hour

// UnknownTypes bounds the error_type label for types missing from the catalog: at most max
// names hold their own label value at once, every other one shares OtherUnknown.
type UnknownTypes struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time // name -> last seen
	evict func(name string)    // drops the series of a name whose slot is reclaimed
}

// NewUnknownTypes returns a bound of max names; evict is called with a name whose slot is
// given to another, to delete its series.
func NewUnknownTypes(max int, evict func(string)) *UnknownTypes {
	return &UnknownTypes{max: max, seen: make(map[string]time.Time), evict: evict}
}

// Label returns the label value to use for the unknown error type name, seen at now.
func (u *UnknownTypes) Label(name string, now time.Time) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.seen[name]; ok {
		u.seen[name] = now
		return name
	}
	if len(u.seen) >= u.max {
		oldest, at := "", now
		for n, t := range u.seen {
			if t.Before(at) {
				oldest, at = n, t
			}
		}
		if oldest == "" || now.Sub(at) < UnknownIdle {
			return OtherUnknown
		}
		delete(u.seen, oldest)
		if u.evict != nil {
			u.evict(oldest)
		}
	}
	u.seen[name] = now
	return name
}

// StatusLabel is the status_code label value of an event: the code itself when it is the
// catalog type's own code, else its class ("4xx"). Per error type and environment that is at
// most 1 + 5 values (catalog types) or 5 (unknown types), whatever codes arrive.
func StatusLabel(code uint16, catalogCode bool) string {
	if catalogCode {
		return strconv.Itoa(int(code))
	}
	return strconv.Itoa(int(code)/100) + "xx"
}

// StatusClasses are the classes StatusLabel can return for codes 100..599.
var StatusClasses = []string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// MaxEventSeries bounds the series of faultline_events_total:
// environments x (catalog types x (1 + status classes) + (max unknown + 1) x status classes).
func MaxEventSeries(catalogTypes, maxUnknown int) int {
	return len(Environments) * (catalogTypes*(1+len(StatusClasses)) + (maxUnknown+1)*len(StatusClasses))
}
