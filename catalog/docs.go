package catalog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// DocEntry is one error type exactly as the upstream docs page describes it,
// before curation. Fields are copied verbatim (whitespace-trimmed) so that a
// docs update shows up as a reviewable diff in schema/catalog.json.
type DocEntry struct {
	ErrorType       string   // title line, e.g. "billing_not_verified"
	StatusCode      int      // from the "400Bad request" line
	StatusText      string   // "Bad request"
	Description     string   // prose paragraphs before the sections; "" when the page gives none
	CommonCauses    []string // "Common causes" bullets, nil when absent
	Troubleshooting []string // "Troubleshooting steps" bullets, nil when absent
	ErrorMessage    string   // error_message of the example body
	ErrorURL        string   // error_url of the example body
	Line            int      // 1-based line of the title, for error messages
}

var (
	// titleRe matches an error_type title line. It is deliberately the same
	// shape the catalog validates, so anything the parser accepts is valid.
	titleRe = regexp.MustCompile(`^[a-z0-9_]{1,128}$`)
	// statusRe matches the status line that follows a title: "400Bad request"
	// (the page renders the code badge and its text without a space).
	statusRe = regexp.MustCompile(`^([1-5][0-9]{2})\s*(\S.*)$`)
)

// Section headings and markers used by the docs page.
const (
	headCauses  = "Common causes"
	headSteps   = "Troubleshooting steps"
	headExample = "Error"
	bullet      = "•"
)

// exampleBody is the part of the example JSON error body the catalog keeps.
type exampleBody struct {
	StatusCode   int    `json:"status_code"`
	ErrorType    string `json:"error_type"`
	ErrorMessage string `json:"error_message"`
	ErrorURL     string `json:"error_url"`
}

// ParseDocs parses the error reference page (schema/docs/errors-400.txt) into
// its entries, in page order.
//
// An entry starts at a title line (an error_type) immediately followed, after
// blank lines, by a status line such as "400Bad request". Everything between
// two entries that is not part of the description, the bullet sections or the
// example JSON body (the "How to get help" boilerplate) is ignored. The
// example body must agree with the title and status line; a disagreement is
// reported with its line number rather than silently picking one.
func ParseDocs(r io.Reader) ([]DocEntry, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), " \t\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read docs: %w", err)
	}

	// nextNonBlank returns the index of the first non-blank line at or after i.
	nextNonBlank := func(i int) int {
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		return i
	}
	isStart := func(i int) bool {
		if !titleRe.MatchString(strings.TrimSpace(lines[i])) {
			return false
		}
		j := nextNonBlank(i + 1)
		return j < len(lines) && statusRe.MatchString(strings.TrimSpace(lines[j]))
	}

	var out []DocEntry
	seen := map[string]int{}
	for i := 0; i < len(lines); i++ {
		if !isStart(i) {
			continue
		}
		e, next, err := parseEntry(lines, i, nextNonBlank)
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[e.ErrorType]; dup {
			return nil, fmt.Errorf("docs line %d: error type %q already defined at line %d", e.Line, e.ErrorType, prev)
		}
		seen[e.ErrorType] = e.Line
		out = append(out, e)
		i = next - 1
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("docs: no error entries found (expected a title line followed by a status line such as %q)", "400Bad request")
	}
	return out, nil
}

// parseEntry parses the entry whose title is at lines[start] and returns it
// with the index of the first line after its example body.
func parseEntry(lines []string, start int, nextNonBlank func(int) int) (DocEntry, int, error) {
	e := DocEntry{ErrorType: strings.TrimSpace(lines[start]), Line: start + 1}
	fail := func(i int, format string, args ...any) (DocEntry, int, error) {
		return DocEntry{}, 0, fmt.Errorf("docs line %d: entry %q: %s", i+1, e.ErrorType, fmt.Sprintf(format, args...))
	}

	i := nextNonBlank(start + 1)
	m := statusRe.FindStringSubmatch(strings.TrimSpace(lines[i]))
	code, _ := strconv.Atoi(m[1]) // statusRe guarantees three digits
	e.StatusCode, e.StatusText = code, m[2]

	// Prose and bullet sections, up to the "Error" heading of the example.
	var desc []string
	section := ""     // "", headCauses or headSteps
	var cur *[]string // bullet list being filled
	i++
	for ; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		switch {
		case t == "":
			continue
		case t == headExample:
		case t == headCauses:
			section, cur = headCauses, &e.CommonCauses
			continue
		case t == headSteps:
			section, cur = headSteps, &e.Troubleshooting
			continue
		case strings.HasPrefix(t, bullet):
			if cur == nil {
				return fail(i, "bullet outside a %q or %q section", headCauses, headSteps)
			}
			*cur = append(*cur, strings.TrimSpace(strings.TrimPrefix(t, bullet)))
			continue
		case section != "":
			// A wrapped bullet: continue the previous item.
			if len(*cur) == 0 {
				return fail(i, "text in section %q before its first bullet", section)
			}
			(*cur)[len(*cur)-1] += " " + t
			continue
		default:
			desc = append(desc, t)
			continue
		}
		break // reached the "Error" heading
	}
	if i >= len(lines) {
		return fail(start, "no %q example follows the description", headExample)
	}
	e.Description = strings.Join(desc, "\n\n")

	// The example body: from the line "{" to the first line that is "}".
	j := nextNonBlank(i + 1)
	if j >= len(lines) || strings.TrimSpace(lines[j]) != "{" {
		return fail(j, "expected the example JSON body to start with %q", "{")
	}
	k := j
	for k < len(lines) && strings.TrimSpace(lines[k]) != "}" {
		k++
	}
	if k >= len(lines) {
		return fail(j, "example JSON body is not closed")
	}
	var body exampleBody
	if err := json.Unmarshal([]byte(strings.Join(lines[j:k+1], "\n")), &body); err != nil {
		return fail(j, "example JSON body: %v", err)
	}
	if body.ErrorType != e.ErrorType {
		return fail(j, "example body error_type %q differs from the title", body.ErrorType)
	}
	if body.StatusCode != e.StatusCode {
		return fail(j, "example body status_code %d differs from the status line %d", body.StatusCode, e.StatusCode)
	}
	if body.ErrorMessage == "" {
		return fail(j, "example body has no error_message")
	}
	e.ErrorMessage, e.ErrorURL = body.ErrorMessage, body.ErrorURL
	return e, k + 1, nil
}
