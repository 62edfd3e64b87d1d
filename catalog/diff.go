package catalog

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// FieldChange is one documented field of an error type that a newer docs page changes.
type FieldChange struct {
	Field string `json:"field"` // the catalog.json key: status_code, description, ...
	Old   string `json:"old"`
	New   string `json:"new"`
}

// TypeChange is an error type present in both, with the documented fields that differ.
type TypeChange struct {
	ErrorType string        `json:"error_type"`
	Fields    []FieldChange `json:"fields"`
}

// DocsDiff is what a newer docs page changes against a catalog: error types added (need
// curation before the catalog can be regenerated), removed (their curation goes), and
// changed in the documented facts. Curation (category, actor, remediation, alert) is not
// compared: it is not on the page.
type DocsDiff struct {
	Added   []DocEntry   `json:"added"`
	Removed []Entry      `json:"removed"`
	Changed []TypeChange `json:"changed"`
}

// Empty reports whether the page documents exactly what the catalog holds.
func (d DocsDiff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// DiffDocs compares the documented facts of committed with a (newer) docs page, as Build
// would turn the page into entries (a missing description is the example message).
func DiffDocs(committed []Entry, docs []DocEntry) DocsDiff {
	var d DocsDiff
	old := make(map[string]Entry, len(committed))
	for _, e := range committed {
		old[e.ErrorType] = e
	}
	seen := make(map[string]bool, len(docs))
	for _, n := range docs {
		seen[n.ErrorType] = true
		o, ok := old[n.ErrorType]
		if !ok {
			d.Added = append(d.Added, n)
			continue
		}
		desc := n.Description
		if desc == "" {
			desc = n.ErrorMessage
		}
		var fs []FieldChange
		add := func(field, a, b string) {
			if a != b {
				fs = append(fs, FieldChange{field, a, b})
			}
		}
		add("status_code", strconv.Itoa(o.StatusCode), strconv.Itoa(n.StatusCode))
		add("description", o.Description, desc)
		add("error_message", o.ErrorMessage, n.ErrorMessage)
		add("error_url", o.ErrorURL, n.ErrorURL)
		add("common_causes", strings.Join(o.CommonCauses, "\n"), strings.Join(n.CommonCauses, "\n"))
		add("troubleshooting", strings.Join(o.Troubleshooting, "\n"), strings.Join(n.Troubleshooting, "\n"))
		if len(fs) > 0 {
			d.Changed = append(d.Changed, TypeChange{ErrorType: n.ErrorType, Fields: fs})
		}
	}
	for _, e := range committed {
		if !seen[e.ErrorType] {
			d.Removed = append(d.Removed, e)
		}
	}
	slices.SortFunc(d.Added, func(a, b DocEntry) int { return strings.Compare(a.ErrorType, b.ErrorType) })
	slices.SortFunc(d.Removed, func(a, b Entry) int { return strings.Compare(a.ErrorType, b.ErrorType) })
	slices.SortFunc(d.Changed, func(a, b TypeChange) int { return strings.Compare(a.ErrorType, b.ErrorType) })
	return d
}

// WriteText prints d for a reviewer: one section each for added, removed and changed types,
// every changed field with its old and new text (%q, so whitespace and control characters
// show).
func (d DocsDiff) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))
	if len(d.Added) > 0 {
		b.WriteString("\nadded (curate them in catalog/curation.yaml before regenerating):\n")
		for _, n := range d.Added {
			fmt.Fprintf(&b, "  + %s (%d) %q\n", n.ErrorType, n.StatusCode, n.ErrorMessage)
		}
	}
	if len(d.Removed) > 0 {
		b.WriteString("\nremoved (drop their curation):\n")
		for _, e := range d.Removed {
			fmt.Fprintf(&b, "  - %s (%d, %s)\n", e.ErrorType, e.StatusCode, e.Category)
		}
	}
	if len(d.Changed) > 0 {
		b.WriteString("\nchanged:\n")
		for _, c := range d.Changed {
			fmt.Fprintf(&b, "  ~ %s\n", c.ErrorType)
			for _, f := range c.Fields {
				fmt.Fprintf(&b, "      %s\n        old %q\n        new %q\n", f.Field, f.Old, f.New)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
