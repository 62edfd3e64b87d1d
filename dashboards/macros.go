package dashboards

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Vars is what Grafana knows when it sends a panel's query: the time range, the interval and
// the dashboard variables. Tests use it to run committed queries outside Grafana.
type Vars struct {
	From, To time.Time
	// Interval is Grafana's $__interval for the panel (at least 1s).
	Interval time.Duration
	// RateInterval is $__rate_interval (Grafana: max(4 x scrape interval, $__interval + scrape)).
	RateInterval time.Duration
	// Values of dashboard variables; a multi-value variable has several.
	Values map[string][]string
	// All marks variables whose "All" option is selected; Values then holds every option.
	All map[string]bool
}

var (
	conditionalAllRE = regexp.MustCompile(`\$__conditionalAll\(`)
	varRE            = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([a-z]+))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)
	timeFilterRE     = regexp.MustCompile(`\$__timeFilter\(\s*([^)]+?)\s*\)`)
	timeIntervalRE   = regexp.MustCompile(`\$__timeInterval\(\s*([^)]+?)\s*\)`)
)

// ExpandSQL expands a grafana-clickhouse-datasource raw SQL query the way Grafana and the
// plugin (v4) do: $__conditionalAll(cond, $var) becomes cond, or 1=1 when var is All; template
// variables (${v}, ${v:sqlstring}, ${v:singlequote}, ${v:percentencode}, $v); then the plugin macros
// $__timeFilter(col) -> col >= toDateTime(from) AND col <= toDateTime(to),
// $__timeInterval(col) -> toStartOfInterval(toDateTime(col), INTERVAL n second),
// $__interval_s, $__fromTime, $__toTime. Anything left that starts with $ is an error.
func ExpandSQL(sql string, v Vars) (string, error) {
	out, err := expandConditionalAll(sql, v)
	if err != nil {
		return "", err
	}
	// Plugin macros first: their names start with $__ and must not be read as variables.
	out = timeFilterRE.ReplaceAllString(out, fmt.Sprintf("$1 >= toDateTime(%d) AND $1 <= toDateTime(%d)", v.From.Unix(), v.To.Unix()))
	out = timeIntervalRE.ReplaceAllString(out, fmt.Sprintf("toStartOfInterval(toDateTime($1), INTERVAL %d second)", intervalSeconds(v.Interval)))
	out = strings.ReplaceAll(out, "$__interval_s", strconv.Itoa(intervalSeconds(v.Interval)))
	out = strings.ReplaceAll(out, "$__fromTime", fmt.Sprintf("toDateTime(%d)", v.From.Unix()))
	out = strings.ReplaceAll(out, "$__toTime", fmt.Sprintf("toDateTime(%d)", v.To.Unix()))
	out, err = expandVars(out, v, sqlFormat)
	if err != nil {
		return "", err
	}
	if i := strings.IndexByte(out, '$'); i >= 0 {
		return "", fmt.Errorf("unexpanded macro or variable at %q", out[i:min(len(out), i+30)])
	}
	return out, nil
}

// ExpandPromQL expands a Prometheus target as Grafana does: $__rate_interval, $__interval,
// $__range, and template variables ($v, ${v}, ${v:regex}).
func ExpandPromQL(expr string, v Vars) (string, error) {
	out := strings.ReplaceAll(expr, "$__rate_interval", promDuration(v.RateInterval))
	out = strings.ReplaceAll(out, "$__interval", promDuration(v.Interval))
	out = strings.ReplaceAll(out, "$__range", promDuration(v.To.Sub(v.From)))
	out, err := expandVars(out, v, promFormat)
	if err != nil {
		return "", err
	}
	if i := strings.IndexByte(out, '$'); i >= 0 {
		return "", fmt.Errorf("unexpanded variable at %q", out[i:min(len(out), i+30)])
	}
	return out, nil
}

// expandConditionalAll handles $__conditionalAll(condition, $var), whose condition may
// contain parentheses and commas.
func expandConditionalAll(sql string, v Vars) (string, error) {
	for {
		loc := conditionalAllRE.FindStringIndex(sql)
		if loc == nil {
			return sql, nil
		}
		depth, end, lastComma := 1, -1, -1
		for i := loc[1]; i < len(sql) && end < 0; i++ {
			switch sql[i] {
			case '(':
				depth++
			case ')':
				depth--
				if depth == 0 {
					end = i
				}
			case ',':
				if depth == 1 {
					lastComma = i
				}
			}
		}
		if end < 0 || lastComma < 0 {
			return "", fmt.Errorf("malformed $__conditionalAll at %q", sql[loc[0]:])
		}
		cond := strings.TrimSpace(sql[loc[1]:lastComma])
		name := strings.TrimPrefix(strings.TrimSpace(sql[lastComma+1:end]), "$")
		name = strings.Trim(name, "{}")
		if _, ok := v.Values[name]; !ok {
			return "", fmt.Errorf("$__conditionalAll names unknown variable %q", name)
		}
		repl := cond
		if v.All[name] {
			repl = "1=1"
		}
		sql = sql[:loc[0]] + repl + sql[end+1:]
	}
}

type formatter func(name, format string, vals []string, all bool) (string, error)

func expandVars(s string, v Vars, f formatter) (string, error) {
	var firstErr error
	out := varRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		name, format := sub[1], sub[2]
		if name == "" {
			name = sub[3]
		}
		if strings.HasPrefix(name, "__") {
			return m // a macro this expander does not know: reported by the caller
		}
		vals, ok := v.Values[name]
		if !ok || len(vals) == 0 {
			if firstErr == nil {
				firstErr = fmt.Errorf("variable %q has no value", name)
			}
			return m
		}
		r, err := f(name, format, vals, v.All[name])
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return r
	})
	return out, firstErr
}

// The formats below do what Grafana's do (public/app/features/templating/formatRegistry.ts),
// so that the tests see the SQL Grafana would send. Note that neither sqlstring (which doubles ')
// nor singlequote (which puts a backslash before ') escapes backslashes, which ClickHouse reads as escapes: the
// dashboards use percentencode inside decodeURLComponent('...') instead, which only ever
// puts [A-Za-z0-9._~%-] between the quotes.
func sqlFormat(name, format string, vals []string, _ bool) (string, error) {
	switch format {
	case "sqlstring":
		q := make([]string, len(vals))
		for i, s := range vals {
			q[i] = "'" + strings.ReplaceAll(s, "'", "''") + "'"
		}
		return strings.Join(q, ","), nil
	case "singlequote":
		q := make([]string, len(vals))
		for i, s := range vals {
			q[i] = "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
		}
		return strings.Join(q, ","), nil
	case "percentencode":
		if len(vals) == 1 {
			return percentEncode(vals[0]), nil
		}
		return percentEncode("{" + strings.Join(vals, ",") + "}"), nil
	case "":
		if len(vals) != 1 {
			return "", fmt.Errorf("variable %q: raw format with %d values", name, len(vals))
		}
		return vals[0], nil
	default:
		return "", fmt.Errorf("variable %q: format %q not supported in SQL", name, format)
	}
}

// percentEncode is JavaScript's encodeURIComponent made strict as Grafana does: every byte
// but RFC 3986's unreserved characters becomes %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

func promFormat(name, format string, vals []string, _ bool) (string, error) {
	switch format {
	case "regex":
		q := make([]string, len(vals))
		for i, s := range vals {
			q[i] = regexp.QuoteMeta(s)
		}
		sort.Strings(q)
		if len(q) == 1 {
			return q[0], nil
		}
		return "(" + strings.Join(q, "|") + ")", nil
	case "":
		if len(vals) != 1 {
			return "", fmt.Errorf("variable %q: raw format with %d values", name, len(vals))
		}
		return vals[0], nil
	default:
		return "", fmt.Errorf("variable %q: format %q not supported in PromQL", name, format)
	}
}

func intervalSeconds(d time.Duration) int {
	if s := int(d / time.Second); s >= 1 {
		return s
	}
	return 1
}

func promDuration(d time.Duration) string {
	if d < time.Second {
		d = time.Second
	}
	return strconv.Itoa(int(d/time.Second)) + "s"
}
