package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// Target is one query of one panel.
type Target struct {
	Panel  string // panel title
	RefID  string
	Kind   string // "prometheus" or ClickHouseType
	Query  string // PromQL or raw SQL, variables and macros unexpanded
	Format int    // ClickHouse format (table/time series); 0 for Prometheus
}

// Decode decodes dashboard JSON strictly with the SDK (unknown fields, wrong types and
// missing required fields fail) and validates it. ClickHouse targets decode into
// ClickHouseQuery, Prometheus ones into prometheus.Dataquery.
func Decode(raw []byte) (dashboard.Dashboard, error) {
	plugins.RegisterDefaultPlugins()
	RegisterClickHouse()
	var strict dashboard.Dashboard
	if err := strict.UnmarshalJSONStrict(raw); err != nil {
		var be cog.BuildErrors
		if !errors.As(err, &be) || len(be) > 0 {
			return strict, fmt.Errorf("strict decode: %w", err)
		}
	}
	if err := strict.Validate(); err != nil {
		var be cog.BuildErrors
		// Validate returns a non-nil, empty BuildErrors on success.
		if !errors.As(err, &be) || len(be) > 0 {
			return strict, fmt.Errorf("validate: %w", err)
		}
	}
	// SDK v0.0.22 trap: Panel.UnmarshalJSONStrict returns an empty, non-nil BuildErrors on
	// success, which PanelOrRowPanel takes for a failure, so the strictly decoded dashboard
	// keeps no panels although every panel was checked. Decode again normally for the content.
	var d dashboard.Dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("decode: %w", err)
	}
	var shape struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		return d, fmt.Errorf("decode panels: %w", err)
	}
	if len(d.Panels) != len(shape.Panels) {
		return d, fmt.Errorf("decoded %d panels of %d", len(d.Panels), len(shape.Panels))
	}
	return d, nil
}

// Targets lists every query of d, rows included. A target of any other type is an error:
// every target must carry its datasource type so strict decoding checks it.
func Targets(d dashboard.Dashboard) ([]Target, error) {
	var panels []dashboard.Panel
	for _, p := range d.Panels {
		if p.Panel != nil {
			panels = append(panels, *p.Panel)
		}
		if p.RowPanel != nil {
			panels = append(panels, p.RowPanel.Panels...)
		}
	}
	var out []Target
	for _, p := range panels {
		title := ""
		if p.Title != nil {
			title = *p.Title
		}
		for _, q := range p.Targets {
			switch t := q.(type) {
			case *prometheus.Dataquery:
				out = append(out, Target{Panel: title, RefID: deref(t.RefId), Kind: "prometheus", Query: t.Expr})
			case prometheus.Dataquery:
				out = append(out, Target{Panel: title, RefID: deref(t.RefId), Kind: "prometheus", Query: t.Expr})
			case ClickHouseQuery:
				out = append(out, Target{Panel: title, RefID: t.RefId, Kind: ClickHouseType, Query: t.RawSql, Format: t.Format})
			default:
				return nil, fmt.Errorf("panel %q: target of type %T (%s) is neither Prometheus nor ClickHouse", title, q, q.DataqueryType())
			}
		}
	}
	return out, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
