package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
)

// ClickHouseType is the plugin id of the Grafana ClickHouse datasource.
const ClickHouseType = "grafana-clickhouse-datasource"

// ClickHouse query formats of the plugin (v4): what the panel gets back.
const (
	FormatTimeSeries = 0
	FormatTable      = 1
)

// ClickHouseQuery is a raw-SQL target of the grafana-clickhouse-datasource plugin. The SDK
// has no type for this plugin, so faultline declares the fields it uses and registers a
// strict decoder for them (RegisterClickHouse), so that UnmarshalJSONStrict checks these
// targets as strictly as Prometheus ones.
type ClickHouseQuery struct {
	RefId      string                `json:"refId"`
	Hide       *bool                 `json:"hide,omitempty"`
	Datasource *common.DataSourceRef `json:"datasource,omitempty"`
	EditorType string                `json:"editorType"` // always "sql"
	QueryType  string                `json:"queryType"`  // "table" or "timeseries"
	Format     int                   `json:"format"`
	RawSql     string                `json:"rawSql"`
}

// ImplementsDataqueryVariant marks ClickHouseQuery as a dataquery.
func (ClickHouseQuery) ImplementsDataqueryVariant() {}

// DataqueryType is the plugin id.
func (ClickHouseQuery) DataqueryType() string { return ClickHouseType }

// Equals compares two queries field by field.
func (q ClickHouseQuery) Equals(other variants.Dataquery) bool {
	o, ok := other.(ClickHouseQuery)
	if !ok {
		return false
	}
	a, _ := json.Marshal(q)
	b, _ := json.Marshal(o)
	return bytes.Equal(a, b)
}

// Validate checks what the plugin needs to run the query.
func (q ClickHouseQuery) Validate() error {
	var errs cog.BuildErrors
	if q.RefId == "" {
		errs = append(errs, cog.MakeBuildErrors("refId", fmt.Errorf("is empty"))...)
	}
	if q.EditorType != "sql" {
		errs = append(errs, cog.MakeBuildErrors("editorType", fmt.Errorf("%q is not sql", q.EditorType))...)
	}
	if q.RawSql == "" {
		errs = append(errs, cog.MakeBuildErrors("rawSql", fmt.Errorf("is empty"))...)
	}
	if q.Format != FormatTable && q.Format != FormatTimeSeries {
		errs = append(errs, cog.MakeBuildErrors("format", fmt.Errorf("%d is not table (1) or time series (0)", q.Format))...)
	}
	if q.Datasource == nil || q.Datasource.Type == nil || *q.Datasource.Type != ClickHouseType {
		errs = append(errs, cog.MakeBuildErrors("datasource", fmt.Errorf("must be of type %s", ClickHouseType))...)
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// Build lets a ClickHouseQuery be passed where the SDK wants a dataquery builder.
func (q ClickHouseQuery) Build() (variants.Dataquery, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	return q, nil
}

// RegisterClickHouse registers ClickHouseQuery with the SDK's runtime so that dashboards
// decode ClickHouse targets into it (strictly with UnmarshalJSONStrict: unknown fields fail).
func RegisterClickHouse() {
	cog.NewRuntime().RegisterDataqueryVariant(variants.DataqueryConfig{
		Identifier: ClickHouseType,
		DataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			var q ClickHouseQuery
			if err := json.Unmarshal(raw, &q); err != nil {
				return nil, err
			}
			return q, nil
		},
		StrictDataqueryUnmarshaler: func(raw []byte) (variants.Dataquery, error) {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.DisallowUnknownFields()
			var q ClickHouseQuery
			if err := dec.Decode(&q); err != nil {
				return nil, fmt.Errorf("clickhouse query: %w", err)
			}
			if err := q.Validate(); err != nil {
				return nil, err
			}
			return q, nil
		},
	})
}
