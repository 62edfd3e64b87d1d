package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"
)

// Override adds an error type to the catalog or re-curates a documented one.
// It is one item of the overrides file (config key catalog.overrides):
//
//	entries:
//	  - error_type: billing_not_verified   # existing: only the fields set change
//	    alert: {severity: ticket}
//	  - error_type: payment_gateway_timeout # new: status_code, category, actor, remediation required
//	    status_code: 504
//	    category: billing
//	    actor: developer
//	    remediation: Retry with backoff; check the gateway status page.
//
// For an existing entry Category, Remediation, Actor, Description, Alert,
// ErrorMessage and ErrorURL may be set (an empty string or nil alert leaves the
// field as is); ErrorMessage and ErrorURL record what the API sends after its
// docs changed (see `query drift`). Setting another StatusCode on it is an
// error: the status code is part of what the error type is.
type Override struct {
	ErrorType    string       `yaml:"error_type"`
	StatusCode   int          `yaml:"status_code"`
	Category     string       `yaml:"category"`
	Remediation  string       `yaml:"remediation"`
	Actor        string       `yaml:"actor"`
	Description  string       `yaml:"description"`
	ErrorMessage string       `yaml:"error_message"`
	ErrorURL     string       `yaml:"error_url"`
	Alert        *AlertPolicy `yaml:"alert"`
}

// overrideFile is the document shape of an overrides file.
type overrideFile struct {
	Entries []Override `yaml:"entries"`
}

// LoadOverrides reads an overrides YAML file. Fields are only checked for
// shape here; New validates them against the catalog.
func LoadOverrides(path string) ([]Override, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog overrides: %w", err)
	}
	ovs, err := ParseOverrides(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("catalog overrides %s: %w", path, err)
	}
	return ovs, nil
}

// ParseOverrides decodes an overrides YAML document. Unknown keys are errors
// so that a misspelled field ("remedation") is not silently ignored. An empty
// document means no overrides.
func ParseOverrides(r io.Reader) ([]Override, error) {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	var f overrideFile
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("decode YAML: %w", err)
	}
	return f.Entries, nil
}

// apply returns e with o's curation applied.
func (o Override) apply(e Entry) (Entry, error) {
	if o.StatusCode != 0 && o.StatusCode != e.StatusCode {
		return Entry{}, fieldError("status_code", "%d cannot replace the documented status code %d of an existing entry", o.StatusCode, e.StatusCode)
	}
	e = cloneEntry(e)
	// The example message and URL follow the API when its docs change before the docs page
	// here is regenerated (`query drift` prints such entries); the status code is identity.
	if o.ErrorMessage != "" {
		e.ErrorMessage = o.ErrorMessage
	}
	if o.ErrorURL != "" {
		e.ErrorURL = o.ErrorURL
	}
	if o.Category != "" {
		e.Category = o.Category
	}
	if o.Remediation != "" {
		e.Remediation = o.Remediation
	}
	if o.Actor != "" {
		e.Actor = o.Actor
	}
	if o.Description != "" {
		e.Description = o.Description
	}
	if o.Alert != nil {
		a := *o.Alert
		e.Alert = &a
	}
	e.Source = SourceOverride
	return e, nil
}

// newEntry builds the entry an override adds. The required fields are checked
// here so the message says "is required" rather than "0 is not a status code".
func (o Override) newEntry() (Entry, error) {
	for _, req := range []struct {
		name  string
		unset bool
	}{
		{"status_code", o.StatusCode == 0},
		{"category", o.Category == ""},
		{"actor", o.Actor == ""},
		{"remediation", o.Remediation == ""},
	} {
		if req.unset {
			return Entry{}, fieldError(req.name, "is required for an error type that is not in the base catalog")
		}
	}
	e := Entry{
		ErrorType:       o.ErrorType,
		StatusCode:      o.StatusCode,
		Description:     o.Description,
		ErrorMessage:    o.ErrorMessage,
		ErrorURL:        o.ErrorURL,
		CommonCauses:    []string{},
		Troubleshooting: []string{},
		Category:        o.Category,
		Remediation:     o.Remediation,
		Actor:           o.Actor,
		Source:          SourceOverride,
	}
	if o.Alert != nil {
		a := *o.Alert
		e.Alert = &a
	}
	return e, nil
}
