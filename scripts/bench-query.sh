#!/usr/bin/env bash
# Benchmarks the query CLI on 10M events in ClickHouse 18.16 (not part of make test).
#
# Starts its own clickhouse-server on free-ish ports (BENCH_TCP_PORT, BENCH_HTTP_PORT) with
# data in a temp dir, applies the migrations, fills N events (BENCH_EVENTS, default 10000000)
# with INSERT ... SELECT FROM system.numbers: 7 days of times, a skewed (power-law) choice of
# catalog error types and organizations, two environments, 1% unknown types, plus a planted
# spike in the last hour. Then it times `query top` over 24h and `query spikes` end to end
# (process start, connect, query, output) as the read-only user, BENCH_RUNS times each,
# and prints median and max. Goals: top < 300 ms, spikes < 1 s.
# BENCH_KEEP=1 keeps the server running and its data dir (printed) afterwards.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EVENTS=${BENCH_EVENTS:-10000000}
RUNS=${BENCH_RUNS:-11}
TCP=${BENCH_TCP_PORT:-19400}
HTTP=${BENCH_HTTP_PORT:-19401}
DB=bench
DIR=$(mktemp -d /tmp/faultline-bench-query.XXXXXX)
PID=

log() { printf 'bench-query: %s\n' "$*" >&2; }
cleanup() {
	if [[ -n $PID && ${BENCH_KEEP:-0} != 1 ]]; then
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
		rm -rf "$DIR"
	fi
}
trap cleanup EXIT

ch() { clickhouse-client --port "$TCP" "$@"; }

# Server.
mkdir -p "$DIR/log"
sed "s#@DATA_DIR@#$DIR#g" "$ROOT/deploy/clickhouse/config.xml.tmpl" >"$DIR/config.xml"
cp "$ROOT/deploy/clickhouse/users.xml" "$DIR/users.xml"
/usr/sbin/clickhouse-server --config-file="$DIR/config.xml" -- --tcp_port="$TCP" --http_port="$HTTP" \
	>"$DIR/log/stdout.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	[[ $(curl -sf "http://127.0.0.1:$HTTP/ping" 2>/dev/null) == "Ok." ]] && break
	kill -0 "$PID" 2>/dev/null || { log "clickhouse-server exited; see $DIR/log"; exit 1; }
	sleep 0.2
done
log "clickhouse-server $(ch -q 'SELECT version()') on 127.0.0.1:$TCP, data in $DIR"

# Schema: the same migration files, with the database name put in as schema.Render does.
ch -q "CREATE DATABASE IF NOT EXISTS $DB"
for f in "$ROOT"/schema/migrations/*.sql; do
	sed "s/\${db}/\`$DB\`/g" "$f" | grep -v '^--' | ch --multiquery
done

# Catalog: types, categories, actors as arrays for the generator; the catalog table too.
read -r TYPES CATS ACTORS < <(jq -r '[ [.[].error_type], [.[].category], [.[].actor] ] | map(tojson) | map(gsub("\"";"'"'"'")) | join(" ")' "$ROOT/schema/catalog.json")
ch -q "INSERT INTO $DB.catalog (error_type, status_code, category, actor, description, remediation, error_url, source, catalog_version, updated_at) FORMAT JSONEachRow" \
	< <(jq -c '.[] | {error_type, status_code, category, actor, description, remediation, error_url, source, catalog_version: "bench", updated_at: (now|floor)}' "$ROOT/schema/catalog.json")

log "inserting $EVENTS events over 7 days"
start=$(date +%s)
# u(k): a uniform [0,1) number per row and stream k. Types and orgs follow u^3 (power law):
# the first few types and orgs get most events, as in production.
ch --max_insert_block_size=1000000 -q "
INSERT INTO $DB.events (event_time, event_time_ms, status_code, error_type, request_id, error_message, environment,
    category, actor, known, method, path, project_id, organization_id, region, kafka_topic, kafka_time, ingested_at)
SELECT
    toDateTime(toUInt32(now()) - 7*86400 + (cityHash64(number, 1) % (7*86400))) AS t,
    toUInt16(cityHash64(number, 2) % 1000),
    toUInt16(400),
    if(cityHash64(number, 3) % 100 = 0, concat('unknown_type_', toString(cityHash64(number, 4) % 20)), types[ti]) AS et,
    concat('req-', toString(number)),
    concat('message for ', et),
    if(cityHash64(number, 5) % 10 < 8, 'live', 'test'),
    if(startsWith(et, 'unknown_type_'), 'unknown', cats[ti]),
    if(startsWith(et, 'unknown_type_'), 'unknown', actors[ti]),
    toUInt8(NOT startsWith(et, 'unknown_type_')),
    'POST', '/v1/sessions/authenticate',
    concat('project-', toString(cityHash64(number, 6) % 300)),
    concat('org-', toString(toUInt32(2000 * pow((cityHash64(number, 7) % 1000000) / 1000000, 3)))),
    'us-east-1', 'api-errors', t, t
FROM (
    SELECT number, $TYPES AS types, $CATS AS cats, $ACTORS AS actors,
        toUInt32(1 + floor(length(types) * pow((cityHash64(number, 8) % 1000000) / 1000000, 3))) AS ti
    FROM system.numbers LIMIT $EVENTS
)"
# A spike: a mid-ranked type 2000 extra times in the last hour.
ch -q "
INSERT INTO $DB.events (event_time, status_code, error_type, request_id, environment, category, actor, known, organization_id, kafka_time, ingested_at)
SELECT toDateTime(toUInt32(now()) - 3600 + number % 3600) AS t, 400, types[40], concat('spike-', toString(number)), 'live', cats[40], actors[40], 1, 'org-7', t, t
FROM (SELECT number, $TYPES AS types, $CATS AS cats, $ACTORS AS actors FROM system.numbers LIMIT 2000)"
log "inserted in $(( $(date +%s) - start )) s: $(ch -q "SELECT count() FROM $DB.events") events, $(ch -q "SELECT count() FROM $DB.events_per_minute") rollup rows, $(ch -q "SELECT count() FROM system.parts WHERE database = '$DB' AND active") parts"

BIN="$DIR/query"
(cd "$ROOT" && go build -ldflags "${FAULTLINE_LDFLAGS:-}" -o "$BIN" ./cmd/query)
export FAULTLINE_CLICKHOUSE_ADDR=127.0.0.1:$TCP FAULTLINE_CLICKHOUSE_DATABASE=$DB FAULTLINE_QUERY_USERNAME=faultline_ro

# bench NAME ARGS...: runs the CLI RUNS times (after one warm-up) and prints median and max.
bench() {
	local name=$1 goal=$2 i t0 t1 times=()
	shift 2
	"$BIN" "$@" >/dev/null
	for ((i = 0; i < RUNS; i++)); do
		t0=$(date +%s%N)
		"$BIN" "$@" >/dev/null
		t1=$(date +%s%N)
		times+=($(( (t1 - t0) / 1000000 )))
	done
	sorted=($(printf '%s\n' "${times[@]}" | sort -n))
	med=${sorted[$(( RUNS / 2 ))]}
	mx=${sorted[$(( RUNS - 1 ))]}
	verdict=ok
	(( mx < goal )) || verdict="OVER GOAL"
	printf '%-32s runs=%d median=%4d ms  max=%4d ms  goal < %d ms  %s\n' "$name" "$RUNS" "$med" "$mx" "$goal" "$verdict"
}

echo
echo "query CLI on $EVENTS events, ClickHouse 18.16, user faultline_ro, $(nproc) cores (end to end per run):"
bench "top --since 24h" 300 top --since 24h
bench "top --since 24h --env live" 300 top --since 24h --env live
bench "top --since 24h --org org-1" 300 top --since 24h --org org-1
bench "spikes (rollup)" 1000 spikes
bench "spikes --org org-7 (raw events)" 1000 spikes --org org-7
bench "trend --since 7d" 1000 trend --since 7d
echo
"$BIN" spikes | head -12
