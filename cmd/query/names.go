package main

// How names are shown in tables. The machine formats (--format json|csv) always carry the
// stored values unchanged; only the aligned table, read by a person, shortens or names them.

// noOrganization stands for an event stored without an organization_id, so that a table row
// says so instead of starting with a blank cell.
const noOrganization = "(none)"

// maxTypeWidth bounds the ERROR TYPE column: most catalog names are under 40 characters, and
// the longest (67) would otherwise push every other column off a 120-column terminal.
const maxTypeWidth = 40

// orgLabel is the ORGANIZATION cell of id.
func orgLabel(id string) string {
	if id == "" {
		return noOrganization
	}
	return id
}

// typeLabel is the ERROR TYPE cell of name: unchanged up to maxTypeWidth runes, else its start
// and end joined by "…", which keeps names that share a prefix apart. cut reports a shortening.
func typeLabel(name string) (label string, cut bool) {
	r := []rune(name)
	if len(r) <= maxTypeWidth {
		return name, false
	}
	head := (maxTypeWidth - 1) / 2
	tail := maxTypeWidth - 1 - head
	return string(r[:head]) + "…" + string(r[len(r)-tail:]), true
}

// fullNamesHint is printed under a table whose error types were shortened.
const fullNamesHint = "error types longer than 40 characters are shortened with …; --format csv or json gives them whole"
