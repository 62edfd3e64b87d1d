package buildinfo

import (
	"bytes"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestResolve(t *testing.T) {
	toolchain := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/faultline/faultline", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc123"},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"},
		},
	}
	tests := []struct {
		name           string
		ver, rev, date string
		bi             *debug.BuildInfo
		want           Info
	}{
		{"linker stamps win", "1.2.0", "deadbeef", "2026-12-02T08:00:00Z", toolchain,
			Info{Version: "1.2.0", Revision: "deadbeef", BuildDate: "2026-12-02T08:00:00Z", GoVersion: "go1.26.8"}},
		{"toolchain fills the rest", "", "unknown", "", toolchain,
			Info{Version: "v0.3.0", Revision: "abc123", BuildDate: "2026-12-01T10:00:00Z", GoVersion: "go1.26.8"}},
		{"devel module version is no version", "", "", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			Info{Version: "unknown", Revision: "unknown", BuildDate: "unknown"}},
		{"no build info at all", "", "", "", nil,
			Info{Version: "unknown", Revision: "unknown", BuildDate: "unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolve(tt.ver, tt.rev, tt.date, tt.bi)
			if got.Version != tt.want.Version || got.Revision != tt.want.Revision || got.BuildDate != tt.want.BuildDate {
				t.Errorf("resolve = %+v, want %+v", got, tt.want)
			}
			if tt.want.GoVersion != "" && got.GoVersion != tt.want.GoVersion {
				t.Errorf("GoVersion = %q, want %q", got.GoVersion, tt.want.GoVersion)
			}
			if !strings.HasPrefix(got.GoVersion, "go") || got.Platform == "" {
				t.Errorf("GoVersion %q / Platform %q not filled", got.GoVersion, got.Platform)
			}
		})
	}
}

func TestString(t *testing.T) {
	in := Info{Version: "1.2.0", Revision: "deadbeef", BuildDate: "2026-12-02T08:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	want := "ingest version 1.2.0 (commit deadbeef, built 2026-12-02T08:00:00Z, go1.26.8, linux/amd64)"
	if got := in.String("ingest"); got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

func TestCobraVersionOnEverySubcommand(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"sub", "--version"}, {"sub", "deeper", "--version"}} {
		ran := false
		root := &cobra.Command{Use: "tool", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
		sub := &cobra.Command{Use: "sub", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
		sub.AddCommand(&cobra.Command{Use: "deeper", RunE: func(*cobra.Command, []string) error { ran = true; return nil }})
		root.AddCommand(sub)
		Cobra(root)
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetArgs(args)
		if err := root.Execute(); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if ran {
			t.Errorf("%v ran the command instead of printing the version", args)
		}
		got := out.String()
		if !strings.HasPrefix(got, "tool version ") || !strings.Contains(got, "commit ") || !strings.Contains(got, "go1.") {
			t.Errorf("%v printed %q", args, got)
		}
	}
}
