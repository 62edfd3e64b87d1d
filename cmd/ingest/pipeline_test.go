package main

import (
	"reflect"
	"testing"

	"github.com/faultline/faultline/config"
	"github.com/faultline/faultline/schema"
)

// Every field of pipeline.Config is set from the defaults: a field added to it but not to
// pipelineConfig would reach the pipeline as zero.
func TestPipelineConfigSetsEveryField(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if v.Kind() == reflect.Pointer && !v.IsNil() {
			v = v.Elem()
		}
		if v.Kind() == reflect.Struct {
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
			return
		}
		if v.IsZero() && path != "Config.Cluster" { // nil: a single server, the default
			t.Errorf("pipelineConfig leaves %s unset", path)
		}
	}
	cat, err := schema.LoadCatalog("", "")
	if err != nil {
		t.Fatal(err)
	}
	pc := pipelineConfig(cfg, cat)
	if pc.Cluster != nil {
		t.Fatalf("single server by default, got cluster %+v", pc.Cluster)
	}
	walk("Config", reflect.ValueOf(pc))

	// In cluster mode every field of the ClusterConfig is set too (ViaDistributed is false
	// with the default local inserts, so the walk runs with distributed ones).
	t.Setenv("FAULTLINE_CLICKHOUSE_CLUSTER", "prod")
	t.Setenv("FAULTLINE_CLICKHOUSE_CLUSTER_INSERT", "distributed")
	cfg, err = config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	pc = pipelineConfig(cfg, cat)
	if pc.Cluster == nil {
		t.Fatal("clickhouse.cluster set, pipeline Config.Cluster nil")
	}
	walk("Config", reflect.ValueOf(pc))
	if pc.Cluster.ShardingKey != "cityHash64(kafka_topic, kafka_partition)" || pc.Cluster.LocalTable("events") != "events_local" {
		t.Fatalf("cluster config %+v: key %q, events in %q", pc.Cluster, pc.Cluster.ShardingKey, pc.Cluster.LocalTable("events"))
	}
}
