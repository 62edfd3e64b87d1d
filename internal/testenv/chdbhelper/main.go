// Command chdbhelper serves one chDB (ClickHouse as a library) session over
// stdin/stdout for internal/testenv.CHDB.
//
// It exists because chdb-go dlopens libchdb.so in a package init and panics when
// the library is missing: linking chdb-go into every test binary that imports
// testenv would make all of them crash at start on a machine without chDB, and
// would load a 566 MB library into processes that never use it. Running the
// session in this helper process keeps the failure a readable t.Fatal and gives
// chDB its "one session per process" for free.
//
// Protocol: one JSON request per line on stdin ({"query": ..., "format": ...}),
// one JSON response per line on stdout ({"data": ..., "error": ...}).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/chdb-io/chdb-go/chdb"
)

type request struct {
	Query  string `json:"query"`
	Format string `json:"format"`
}

type response struct {
	Data  string `json:"data"`
	Error string `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: chdbhelper SESSION_DIR")
		os.Exit(2)
	}
	sess, err := chdb.NewSession(os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "chdbhelper: open session in %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	defer sess.Close()

	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 256<<20)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var req request
		var resp response
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			resp.Error = fmt.Sprintf("decode request: %v", err)
		} else {
			resp = run(sess, req)
		}
		if err := out.Encode(resp); err != nil {
			fmt.Fprintf(os.Stderr, "chdbhelper: write response: %v\n", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "chdbhelper: read request: %v\n", err)
		os.Exit(1)
	}
}

func run(sess *chdb.Session, req request) response {
	format := req.Format
	if format == "" {
		format = "CSV"
	}
	res, err := sess.Query(req.Query, format)
	if err != nil {
		return response{Error: err.Error()}
	}
	if res == nil {
		return response{}
	}
	defer res.Free()
	if err := res.Error(); err != nil {
		return response{Error: err.Error()}
	}
	return response{Data: res.String()}
}
