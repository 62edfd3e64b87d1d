package schema_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultline/faultline/internal/testenv"
	"github.com/faultline/faultline/schema"
)

// TestLoadCatalog: an empty path loads the embedded copy, which is the committed file byte for
// byte (so the catalog regeneration test covers it too); a path still reads that file, with its
// overrides; a missing file or a broken embedded-format file names the path.
func TestLoadCatalog(t *testing.T) {
	root := testenv.RepoRoot(t)
	onDisk, err := os.ReadFile(filepath.Join(root, "schema", "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(schema.CatalogJSON(), onDisk) {
		t.Fatal("embedded catalog differs from schema/catalog.json: rebuild")
	}
	embedded, err := schema.LoadCatalog("", "")
	if err != nil {
		t.Fatalf("embedded: %v", err)
	}
	fromFile, err := schema.LoadCatalog(filepath.Join(root, "schema", "catalog.json"), "")
	if err != nil {
		t.Fatalf("file: %v", err)
	}
	if embedded.Version() != fromFile.Version() || embedded.Len() != fromFile.Len() || embedded.Len() == 0 {
		t.Fatalf("embedded %s (%d entries) != file %s (%d entries)", embedded.Version(), embedded.Len(), fromFile.Version(), fromFile.Len())
	}

	dir := t.TempDir()
	overrides := filepath.Join(dir, "overrides.yaml")
	if err := os.WriteFile(overrides, []byte("entries:\n  - error_type: invalid_email\n    remediation: Ask our own support desk.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	withOv, err := schema.LoadCatalog("", overrides)
	if err != nil {
		t.Fatalf("embedded + overrides: %v", err)
	}
	if e, ok := withOv.Lookup("invalid_email"); !ok || e.Remediation != "Ask our own support desk." || withOv.Version() == embedded.Version() {
		t.Fatalf("override not merged into the embedded catalog (version %s)", withOv.Version())
	}

	var entries []json.RawMessage
	if err := json.Unmarshal(onDisk, &entries); err != nil {
		t.Fatal(err)
	}
	one, err := json.Marshal(entries[:1])
	if err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small.json")
	if err := os.WriteFile(small, one, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := schema.LoadCatalog(small, "")
	if err != nil {
		t.Fatalf("own file: %v", err)
	}
	if c.Len() != 1 {
		t.Fatalf("own file: %d entries, want 1 (the path must win over the embedded copy)", c.Len())
	}

	for _, p := range []string{filepath.Join(dir, "missing.json"), overrides} {
		if _, err := schema.LoadCatalog(p, ""); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadCatalog(%s): error %v does not name the file", p, err)
		}
	}
}
