package catalog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Curation is the hand-written part of one documented entry
// (catalog/curation.yaml): what the docs page does not say.
type Curation struct {
	Category    string       `yaml:"category"`
	Remediation string       `yaml:"remediation"`
	Actor       string       `yaml:"actor"`
	Alert       *AlertPolicy `yaml:"alert,omitempty"`
}

// curationFile is the document shape of catalog/curation.yaml: a mapping from
// error_type to its curation. A mapping (not a list) makes a duplicate
// error_type a YAML decoding error.
type curationFile struct {
	Entries map[string]Curation `yaml:"entries"`
}

// ParseCuration decodes catalog/curation.yaml, rejecting unknown keys and
// duplicate error types.
func ParseCuration(r io.Reader) (map[string]Curation, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f curationFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("curation: empty document")
		}
		return nil, fmt.Errorf("curation: decode YAML: %w", err)
	}
	return f.Entries, nil
}

// Build merges the parsed docs with their curation into base catalog entries
// (Source "docs"), validated and sorted by error_type. Every docs entry must
// be curated and every curated name must be in the docs; all mismatches are
// reported at once so a docs update can be curated in one pass.
//
// When the docs page gives no description (it happens: breached_password
// opens straight with "Common causes"), the example body's error_message is
// used, so that every entry explains itself.
func Build(docs []DocEntry, cur map[string]Curation) ([]Entry, error) {
	var missing, unknown []string
	inDocs := make(map[string]bool, len(docs))
	for _, d := range docs {
		inDocs[d.ErrorType] = true
		if _, ok := cur[d.ErrorType]; !ok {
			missing = append(missing, d.ErrorType)
		}
	}
	for name := range cur {
		if !inDocs[name] {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	var problems []string
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d docs entries have no curation (add them to catalog/curation.yaml): %s",
			len(missing), strings.Join(missing, ", ")))
	}
	if len(unknown) > 0 {
		problems = append(problems, fmt.Sprintf("%d curated entries are not in the docs (remove or rename them): %s",
			len(unknown), strings.Join(unknown, ", ")))
	}
	if len(problems) > 0 {
		return nil, errors.New("catalog build: " + strings.Join(problems, "; "))
	}

	entries := make([]Entry, 0, len(docs))
	for _, d := range docs {
		c := cur[d.ErrorType]
		desc := d.Description
		if desc == "" {
			desc = d.ErrorMessage
		}
		entries = append(entries, Entry{
			ErrorType:       d.ErrorType,
			StatusCode:      d.StatusCode,
			Description:     desc,
			ErrorMessage:    d.ErrorMessage,
			ErrorURL:        d.ErrorURL,
			CommonCauses:    cloneStrings(d.CommonCauses),
			Troubleshooting: cloneStrings(d.Troubleshooting),
			Category:        c.Category,
			Remediation:     strings.TrimSpace(c.Remediation),
			Actor:           c.Actor,
			Alert:           c.Alert,
			Source:          SourceDocs,
		})
	}
	// New validates every field and names the offending entry; reuse it so the
	// generator can never write a catalog that Load would reject.
	c, err := New(entries, nil)
	if err != nil {
		return nil, fmt.Errorf("catalog build: %w", err)
	}
	return c.Entries(), nil
}

// GenerateFiles parses the docs page and the curation file and returns the
// bytes of schema/catalog.json (see MarshalEntries). cmd/catalog-gen writes
// them; the staleness test compares them with the committed file.
func GenerateFiles(docsPath, curationPath string) ([]byte, error) {
	df, err := os.Open(docsPath)
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	defer df.Close()
	docs, err := ParseDocs(df)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", docsPath, err)
	}
	cf, err := os.Open(curationPath)
	if err != nil {
		return nil, fmt.Errorf("curation: %w", err)
	}
	defer cf.Close()
	cur, err := ParseCuration(cf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", curationPath, err)
	}
	entries, err := Build(docs, cur)
	if err != nil {
		return nil, err
	}
	return MarshalEntries(entries)
}
