// Package buildinfo tells which build of faultline is running: version, commit, build date and
// Go version, for --version on every command and the faultline_build_info metric (metrics/).
//
// The values are stamped by the linker (make build / make binaries pass -ldflags -X to
// github.com/prometheus/common/version, the package Prometheus' own binaries use); a plain
// `go build` or `go run` falls back to what the Go toolchain recorded (module version,
// vcs.revision, vcs.time).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/common/version"
	"github.com/spf13/cobra"
)

// Info is one build's identity.
type Info struct {
	Version   string
	Revision  string
	BuildDate string
	GoVersion string
	Platform  string
}

// Get returns the running binary's build info: linker-stamped values first, then the Go
// toolchain's build info, then "unknown".
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return resolve(version.Version, version.GetRevision(), version.BuildDate, bi)
}

// resolve fills the linker-stamped values from the toolchain's build info where they are empty.
func resolve(ver, rev, date string, bi *debug.BuildInfo) Info {
	in := Info{Version: ver, Revision: rev, BuildDate: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Revision == "" || in.Revision == "unknown" {
					in.Revision = s.Value
				}
			case "vcs.time":
				if in.BuildDate == "" {
					in.BuildDate = s.Value
				}
			}
		}
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
	}
	for _, p := range []*string{&in.Version, &in.Revision, &in.BuildDate} {
		if *p == "" {
			*p = "unknown"
		}
	}
	return in
}

// String is the --version text of program: one line, every field named.
func (in Info) String(program string) string {
	return fmt.Sprintf("%s version %s (commit %s, built %s, %s, %s)", program, in.Version, in.Revision, in.BuildDate, in.GoVersion, in.Platform)
}

// Cobra gives root and every subcommand a --version flag that prints the build info.
func Cobra(root *cobra.Command) {
	text := Get().String(root.Name())
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Version = text
		// The template's default prefixes the command name; the text already names the program.
		c.SetVersionTemplate("{{.Version}}\n")
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
