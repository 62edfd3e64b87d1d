// Command catalog-gen regenerates schema/catalog.json, the base error catalog,
// from the upstream docs page (schema/docs/errors-400.txt) and the hand-written
// curation (catalog/curation.yaml).
//
// It fails, writing nothing, when a docs entry has no curation, when the
// curation names an entry that is not in the docs, or when any entry is
// invalid. Paths default to the repository's files, found by walking up from
// the working directory to go.mod, so both `go generate ./catalog` and
// `go run ./cmd/catalog-gen` work.
//
// With -diff it first lists what the docs page changes against the catalog in -out (error
// types added, removed, and changed in their documented fields), then regenerates; add -n
// to only list. Point -docs at a newer copy of the page to review an upstream docs update.
//
// Usage:
//
//	catalog-gen [-docs schema/docs/errors-400.txt] [-curation catalog/curation.yaml] [-out schema/catalog.json] [-diff [-n]]
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/faultline/faultline/catalog"
	"github.com/faultline/faultline/internal/buildinfo"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "catalog-gen:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("catalog-gen", flag.ContinueOnError)
	diff := fs.Bool("diff", false, "first list the error types the docs page adds, removes and changes against the catalog in -out")
	dry := fs.Bool("n", false, "with -diff: only list, do not regenerate")
	docs := fs.String("docs", "", "docs page to parse (default <repo>/schema/docs/errors-400.txt)")
	cur := fs.String("curation", "", "curation YAML (default <repo>/catalog/curation.yaml)")
	out := fs.String("out", "", "catalog JSON to write (default <repo>/schema/catalog.json)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Println(buildinfo.Get().String("catalog-gen"))
		return nil
	}
	if *docs == "" || *cur == "" || *out == "" {
		root, err := moduleRoot()
		if err != nil {
			return err
		}
		def := func(p *string, rel string) {
			if *p == "" {
				*p = filepath.Join(root, rel)
			}
		}
		def(docs, filepath.Join("schema", "docs", "errors-400.txt"))
		def(cur, filepath.Join("catalog", "curation.yaml"))
		def(out, filepath.Join("schema", "catalog.json"))
	}

	if *dry && !*diff {
		return errors.New("-n only applies with -diff")
	}
	if *diff {
		if err := printDiff(stdout, *docs, *out); err != nil {
			return err
		}
		if *dry {
			return nil
		}
	}
	data, err := catalog.GenerateFiles(*docs, *cur)
	if err != nil {
		return err
	}
	if old, err := os.ReadFile(*out); err == nil && bytes.Equal(old, data) {
		return nil // unchanged: keep the file's mtime
	}
	// Write then rename so an interrupted run never leaves half a catalog.
	tmp := *out + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// printDiff lists what the docs page at docsPath changes against the catalog at catalogPath.
func printDiff(w io.Writer, docsPath, catalogPath string) error {
	raw, err := os.ReadFile(catalogPath)
	if err != nil {
		return fmt.Errorf("-diff: read the catalog to compare with: %w", err)
	}
	committed, err := catalog.DecodeEntries(raw)
	if err != nil {
		return fmt.Errorf("-diff: %s: %w", catalogPath, err)
	}
	f, err := os.Open(docsPath)
	if err != nil {
		return fmt.Errorf("-diff: %w", err)
	}
	defer f.Close()
	docs, err := catalog.ParseDocs(f)
	if err != nil {
		return fmt.Errorf("-diff: %s: %w", docsPath, err)
	}
	fmt.Fprintf(w, "%s against %s: ", docsPath, catalogPath)
	return catalog.DiffDocs(committed, docs).WriteText(w)
}

// moduleRoot walks up from the working directory to the directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory; pass -docs, -curation and -out")
		}
		dir = parent
	}
}
