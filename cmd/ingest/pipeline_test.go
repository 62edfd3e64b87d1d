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
		if v.Kind() == reflect.Struct {
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
			return
		}
		if v.IsZero() {
			t.Errorf("pipelineConfig leaves %s unset", path)
		}
	}
	cat, err := schema.LoadCatalog("", "")
	if err != nil {
		t.Fatal(err)
	}
	walk("Config", reflect.ValueOf(pipelineConfig(cfg, cat)))
}
