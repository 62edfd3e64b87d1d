// Command query answers the on-call engineer's questions from faultline's ClickHouse: which
// errors, how many, since when, what changed, and what to do about them.
//
//	query top --since 24h --env live
//	query trend --error-type invalid_api_key --since 6h
//	query spikes
//	query show REQUEST_ID
//	query explain ERROR_TYPE
//	query unknown | quarantine | orgs --category sso
//
// Output is an aligned table (color only on a terminal, never with NO_COLOR), or --format
// json|csv with stable snake_case field names. Times are UTC unless --tz.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/faultline/faultline/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, isTerminal(os.Stdout))
	stop()
	os.Exit(code)
}

// run executes the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	cmd := newRoot(&app{stdout: stdout, stderr: stderr, tty: tty})
	buildinfo.Cobra(cmd)
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "query: %v\n", err)
		return 1
	}
	return 0
}

// isTerminal reports whether f is a character device (a terminal, not a pipe or file).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
