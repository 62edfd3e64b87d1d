#!/usr/bin/env bash
# make bench: faultline side by side with its peers, in one run, on the same services and events.
#
# Starts its own dev broker and clickhouse-server 18.16 (own ports, state under BENCH_DIR,
# default .run/bench/, wiped at every start, so it never touches `make services-up`), produces BENCH_EVENTS
# well-formed generated events (default 1000000) to a 6-partition topic with loadgen, then
# measures, one after the other on that broker and server:
#   (a) kcat reading the whole topic to /dev/null: the consume limit;
#   (b) ClickHouse 18.16's own Kafka table engine + a materialized view into a copy of the
#       events table (the peer users would pick instead);
#   (c) faultline `ingest --drain` (BENCH_INGESTERS of them in one consumer group);
#   (d) the server copying the stored events (`INSERT INTO copy SELECT * FROM events`, same
#       schema and rollup view): the insert limit.
# Prints each rate, the ratios faultline/peer and faultline/insert-limit, CPU-seconds of the
# ingester, broker and server (from /proc/PID/stat and /usr/bin/time -v), the ingester's peak
# RSS, and checks exact counts: events stored == produced, the peer's table == produced, no
# offset stored twice. 18.16's Kafka engine stops at the first message it cannot parse and its
# JSONEachRow has no way to skip the envelope's extra fields or read its numeric timestamp, so
# the events are bare bodies only, no malformed and no unknown types, for every contender.
# Stops everything it started on exit, Ctrl-C included. Needs `make deps` (clickhouse-server,
# kcat, GNU time).
#
# With BENCH_PROFILE=1 (the default) each ingester writes a CPU profile (ingest --cpu-profile)
# and the bench prints the top of ingester 1's (go tool pprof -top) and the share of a few
# areas (garbage collector, kafka-go reader, checks, insert path), so that the figures come with
# what holds them back.
#
# Environment: BENCH_EVENTS (messages to produce), BENCH_INGESTERS (1 or 2 ingesters in one
# group), BENCH_PROFILE (1: CPU profile of the ingesters, 0: none), BENCH_PEER_CONSUMERS (the Kafka engine's kafka_num_consumers, 1: with 2, 18.16 was
# seen to store part of the backlog twice after its consumers' rebalance), BENCH_KAFKA_PORT (29092),
# BENCH_CH_TCP_PORT (29000), BENCH_CH_HTTP_PORT (28123), BENCH_PEER_TIMEOUT (seconds without
# progress before the Kafka engine is given up on, 60), BENCH_DIR (the state directory; it must
# be new or hold a previous run's state).
#
# Runs back to back in one directory on ext4 slow the server down run after run: ext4 passes
# over inodes freed in the last 60 to 300 s when it allocates new ones, and wiping a run's
# state frees tens of thousands of part files (seen here: perf put 45% of clickhouse-server's
# CPU in ext4_create -> recently_deleted, and its CPU for the same 1M rows went from 1.6 s to
# 4.2 s over six runs). Space runs 5 minutes apart, or give each run a fresh BENCH_DIR.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.run/bin"
DIR="${BENCH_DIR:-$ROOT/.run/bench}"
EVENTS="${BENCH_EVENTS:-1000000}"
INGESTERS="${BENCH_INGESTERS:-1}"
PROFILE="${BENCH_PROFILE:-1}"
PEER_TIMEOUT="${BENCH_PEER_TIMEOUT:-60}"
PEER_CONSUMERS="${BENCH_PEER_CONSUMERS:-1}"
KAFKA_PORT="${BENCH_KAFKA_PORT:-29092}"
CH_TCP_PORT="${BENCH_CH_TCP_PORT:-29000}"
CH_HTTP_PORT="${BENCH_CH_HTTP_PORT:-28123}"
KAFKA_ADDR="127.0.0.1:$KAFKA_PORT"
TOPIC=api-errors
PARTITIONS=6
DB=faultline_bench
GROUP="faultline-bench-$(date +%s)"

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_EVENTS=$EVENTS: want a positive whole number"
[[ $INGESTERS == 1 || $INGESTERS == 2 ]] || die "BENCH_INGESTERS=$INGESTERS: want 1 or 2"
[[ $PROFILE == 0 || $PROFILE == 1 ]] || die "BENCH_PROFILE=$PROFILE: want 0 or 1"
[[ $PEER_CONSUMERS =~ ^[1-6]$ ]] || die "BENCH_PEER_CONSUMERS=$PEER_CONSUMERS: want 1 to 6 (the topic's partitions)"
[[ $PEER_TIMEOUT =~ ^[1-9][0-9]*$ ]] || die "BENCH_PEER_TIMEOUT=$PEER_TIMEOUT: want a positive whole number of seconds"
command -v kcat >/dev/null || die "kcat missing: run make deps"
for p in "$KAFKA_PORT" "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
	[[ $p =~ ^[0-9]+$ ]] || die "port $p: want a number"
done
[[ -x /usr/bin/time ]] || die "/usr/bin/time (GNU time) missing: run make deps"
[[ -x /usr/sbin/clickhouse-server ]] || die "clickhouse-server missing: run make deps"
command -v curl >/dev/null || die "curl missing: run make deps"

mkdir -p "$ROOT/.run"
# One bench at a time per tree: a second one would wipe the first one's state.
exec 9>"$ROOT/.run/bench.lock"
flock -n 9 || die "another make bench is running in this tree (.run/bench.lock)"

BROKER_PID="" CH_PID="" CHILD_PID=""
INGEST_PIDS=()

source "$ROOT/scripts/proc.sh"

cleanup() {
	trap - EXIT INT TERM
	unfollow
	local c kids k
	for c in "$CHILD_PID" "${INGEST_PIDS[@]}"; do
		[[ -n $c ]] && pid_alive "$c" || continue
		# GNU time does not forward signals: stop the program it runs, then time itself.
		kids=$(cat "/proc/$c/task/$c/children" 2>/dev/null || true)
		for k in $kids; do stop_pid "$k" "child" 40 || true; done
		stop_pid "$c" "child" 5 || true
	done
	if [[ -n $CH_PID ]]; then stop_pid "$CH_PID" clickhouse-server 20 || true; fi
	if [[ -n $BROKER_PID ]]; then stop_pid "$BROKER_PID" devbroker 20 || true; fi
	log "stopped everything it started (state kept in ${DIR#"$ROOT"/} until the next run)"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

# run_child OUT ERR CMD...: runs CMD in the background with stdout to OUT and stderr to ERR
# and waits for it, so that a signal to this script runs the trap at once instead of after CMD
# ends. The redirections are on CMD only: the trap's messages must reach the terminal.
# Returns CMD's status.
run_child() {
	local rc=0 out=$1 err=$2
	shift 2
	if [[ $out == "$err" ]]; then
		"$@" >"$out" 2>&1 9>&- &
	else
		"$@" >"$out" 2>"$err" 9>&- &
	fi
	CHILD_PID=$!
	wait "$CHILD_PID" || rc=$?
	CHILD_PID=""
	return "$rc"
}

# follow FILE PATTERN: copy the lines of FILE matching PATTERN (the children's plain progress
# lines: done/total, rate, ETA) to stderr while a child runs; stop with unfollow.
FOLLOW_PID=""
follow() {
	(tail -n +1 -F "$1" 2>/dev/null | grep --line-buffered -E "$2" | sed -u 's/^/  /' >&2) 9>&- &
	FOLLOW_PID=$!
}
unfollow() {
	[[ -n $FOLLOW_PID ]] || return 0
	pkill -P "$FOLLOW_PID" 2>/dev/null || true # the pipeline's own processes, children of the subshell
	kill "$FOLLOW_PID" 2>/dev/null || true
	wait "$FOLLOW_PID" 2>/dev/null || true
	FOLLOW_PID=""
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ch_ping() { [[ $(curl -sf "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null) == "Ok." ]]; }
ch() { curl -sSf "http://127.0.0.1:$CH_HTTP_PORT/" --data-binary "$1"; }

# wait_for SECONDS CMD...: polls CMD every 0.2 s.
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 5; i++)); do
		if "$@"; then return 0; fi
		sleep 0.2
	done
	return 1
}

# cpu_seconds PID: user+sys CPU seconds the process has used so far.
CLK_TCK=$(getconf CLK_TCK)
cpu_seconds() {
	awk -v hz="$CLK_TCK" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat" 2>/dev/null || echo 0
}

for p in "$KAFKA_PORT" "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
	port_open "$p" && die "port $p is taken (set BENCH_KAFKA_PORT / BENCH_CH_TCP_PORT / BENCH_CH_HTTP_PORT)"
done

log "building ingest, loadgen, devbroker into .run/bin"
mkdir -p "$BIN"
(cd "$ROOT" && for c in ingest loadgen devbroker; do go build -ldflags "${FAULTLINE_LDFLAGS:-}" -o "$BIN/$c" "./cmd/$c" || exit 1; done) ||
	die "go build failed"

# Never wipe a directory this script did not make.
if [[ -e $DIR && ! -e $DIR/.faultline-bench ]] && [[ -n $(ls -A "$DIR" 2>/dev/null) ]]; then
	die "BENCH_DIR=$DIR exists and holds no earlier bench state (.faultline-bench): not wiping it"
fi
rm -rf "$DIR"
mkdir -p "$DIR/kafka" "$DIR/clickhouse/log"
: >"$DIR/.faultline-bench"
STATE_FS=$({ findmnt -n -o FSTYPE --target "$DIR" 2>/dev/null || stat -f -c %T "$DIR"; } | head -n 1)

log "starting devbroker on $KAFKA_ADDR (topic $TOPIC, $PARTITIONS partitions)"
setsid "$BIN/devbroker" --addr "$KAFKA_ADDR" --data-dir "$DIR/kafka" \
	--topic "$TOPIC" --partitions "$PARTITIONS" --group-min-session-timeout 500ms \
	</dev/null >"$DIR/devbroker.log" 2>&1 9>&- &
BROKER_PID=$!

log "starting clickhouse-server on 127.0.0.1:$CH_TCP_PORT (http $CH_HTTP_PORT)"
# The Kafka engine's librdkafka starts a new group at the end of the topic unless told otherwise
# (18.16 reads librdkafka settings from a <kafka> section, underscores for dots): the peer must
# read the backlog from the start, as faultline and kcat do.
sed -e "s#@DATA_DIR@#$DIR/clickhouse#g" \
	-e 's#</yandex>#    <kafka><auto_offset_reset>smallest</auto_offset_reset></kafka>\n</yandex>#' \
	"$ROOT/deploy/clickhouse/config.xml.tmpl" >"$DIR/clickhouse/config.xml"
grep -q '<auto_offset_reset>smallest' "$DIR/clickhouse/config.xml" || die "cannot add the <kafka> section to the server's config"
cp "$ROOT/deploy/clickhouse/users.xml" "$DIR/clickhouse/users.xml"
setsid /usr/sbin/clickhouse-server --config-file="$DIR/clickhouse/config.xml" -- \
	--tcp_port="$CH_TCP_PORT" --http_port="$CH_HTTP_PORT" \
	</dev/null >"$DIR/clickhouse/log/stdout.log" 2>&1 9>&- &
CH_PID=$!

wait_for 20 port_open "$KAFKA_PORT" || { tail -n 20 "$DIR/devbroker.log" >&2; die "devbroker did not open $KAFKA_ADDR within 20 s"; }
wait_for 30 ch_ping || {
	tail -n 20 "$DIR/clickhouse/log/clickhouse-server.err.log" "$DIR/clickhouse/log/stdout.log" >&2 || true
	die "clickhouse-server did not answer on port $CH_HTTP_PORT within 30 s"
}

export FAULTLINE_KAFKA_BROKERS="$KAFKA_ADDR"
export FAULTLINE_KAFKA_TOPIC="$TOPIC"
export FAULTLINE_KAFKA_GROUP="$GROUP"
export FAULTLINE_CLICKHOUSE_ADDR="127.0.0.1:$CH_TCP_PORT"
export FAULTLINE_CLICKHOUSE_DATABASE="$DB"
# Port 0: never collides with `make run` or another ingester on 9464.
export FAULTLINE_METRICS_LISTEN=127.0.0.1:0
# A member learns of a rebalance at its next heartbeat. The dev broker, unlike Kafka (its
# group.initial.rebalance.delay.ms), completes a new group's first join at once: the first
# ingester gets every partition and, with the default 3 s heartbeat, kept them for 3.3 s of
# a 10 s drain before the second one got its share. At 250 ms the group is shared within
# about a second (the first one flushes what it read before it hands partitions over).
export FAULTLINE_KAFKA_HEARTBEAT_INTERVAL=250ms

cd "$ROOT"
log "producing $EVENTS events with loadgen (log: ${DIR#"$ROOT"/}/loadgen.log)"
t0=$(date +%s.%N)
: >"$DIR/loadgen.log"
follow "$DIR/loadgen.log" 'msg=progress'
run_child "$DIR/loadgen.log" "$DIR/loadgen.log" "$BIN/loadgen" --brokers "$KAFKA_ADDR" --topic "$TOPIC" \
	--partitions "$PARTITIONS" --count "$EVENTS" --summary-json "$DIR/truth.json" \
	--envelope-share 0 --malformed-share 0 --unknown-share 0 ||
	{ unfollow; tail -n 20 "$DIR/loadgen.log" >&2; die "loadgen failed"; }
unfollow
produce_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')

# Top-level keys of the indented summary JSON (nested maps are indented deeper).
truth() { sed -nE "s/^  \"$1\": ([0-9]+),?$/\1/p" "$DIR/truth.json"; }
produced=$(truth total) accepted=$(truth accepted) rejected=$(truth rejected)
[[ -n $produced && -n $accepted && -n $rejected ]] || die "cannot read totals from ${DIR#"$ROOT"/}/truth.json"
[[ $produced == "$EVENTS" ]] || die "loadgen delivered $produced of $EVENTS messages (see ${DIR#"$ROOT"/}/loadgen.log)"

[[ $accepted == "$produced" && $rejected == 0 ]] || die "loadgen made $rejected messages to reject: the Kafka engine would stop at the first"

calc() { awk "BEGIN { printf \"$1\", $2 }"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
delta() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# tv FILE KEY: one value of a /usr/bin/time -v report.
tv() { sed -nE "s/^[[:space:]]*$2: (.*)$/\1/p" "$1"; }
# wall_of FILE: the wall-clock time of a /usr/bin/time -v report in seconds.
wall_of() {
	awk -v t="$(tv "$1" 'Elapsed \(wall clock\) time \(h:mm:ss or m:ss\)')" \
		'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }'
}

# --- (a) the consume limit: kcat reads the whole topic -------------------------------------
log "(a) kcat reading $TOPIC from the beginning to /dev/null"
b0=$(cpu_seconds "$BROKER_PID")
run_child /dev/null "$DIR/kcat.log" /usr/bin/time -v -o "$DIR/kcat.time" \
	kcat -C -b "$KAFKA_ADDR" -t "$TOPIC" -e -o beginning -q ||
	{ tail -n 20 "$DIR/kcat.log" >&2; die "kcat failed"; }
kcat_s=$(wall_of "$DIR/kcat.time")
kcat_cpu=$(calc '%.2f' "$(tv "$DIR/kcat.time" 'User time \(seconds\)') + $(tv "$DIR/kcat.time" 'System time \(seconds\)')")
kcat_broker=$(delta "$b0" "$(cpu_seconds "$BROKER_PID")")

log "ingest migrate (database $DB)"
"$BIN/ingest" migrate >"$DIR/migrate.log" 2>&1 || { cat "$DIR/migrate.log" >&2; die "ingest migrate failed"; }

# copy_table NAME: an empty table with the schema of events and its per-minute rollup view,
# so a contender writing into it pays what faultline's inserts pay for events_per_minute.
copy_table() {
	ch "CREATE TABLE $DB.$1 AS $DB.events" &&
		ch "CREATE TABLE $DB.${1}_per_minute AS $DB.events_per_minute" &&
		ch "CREATE MATERIALIZED VIEW $DB.${1}_per_minute_mv TO $DB.${1}_per_minute AS
			SELECT toStartOfMinute(event_time) AS minute, error_type, category, environment, status_code, known,
				count() AS events
			FROM $DB.$1 GROUP BY minute, error_type, category, environment, status_code, known"
}

# --- (b) the peer: ClickHouse's own Kafka engine + materialized view -----------------------
# Positional engine arguments (broker list, topics, group, format, row delimiter, schema,
# consumers): 18.16 takes those. The view maps the bare body's fields onto the events schema;
# what the body lacks (time, environment, catalog fields) the server fills in or defaults.
log "(b) ClickHouse Kafka engine + materialized view into peer_events ($PEER_CONSUMERS consumer(s))"
copy_table peer_events || die "cannot create peer_events"
ch "CREATE TABLE $DB.peer_queue (
		status_code UInt16, request_id String, error_type LowCardinality(String),
		error_message LowCardinality(String), error_url LowCardinality(String)
	) ENGINE = Kafka('$KAFKA_ADDR', '$TOPIC', '$GROUP-peer', 'JSONEachRow', '\n', '', $PEER_CONSUMERS)" ||
	die "cannot create the Kafka engine table"
b0=$(cpu_seconds "$BROKER_PID") c0=$(cpu_seconds "$CH_PID") t0=$(now)
# 18.16's view must name every column of its target, with its exact type.
lc() { printf "CAST(%s AS LowCardinality(String))" "$1"; }
ch "CREATE MATERIALIZED VIEW $DB.peer_mv TO $DB.peer_events AS
	SELECT now() AS event_time, toUInt16(0) AS event_time_ms, status_code, error_type, request_id,
		error_message, error_url,
		$(lc "multiIf(startsWith(request_id, 'request-id-live-'), 'live', startsWith(request_id, 'request-id-test-'), 'test', 'unknown')") AS environment,
		$(lc "''") AS category, $(lc "''") AS actor, toUInt8(1) AS known, emptyArrayString() AS flags,
		$(lc "''") AS method, '' AS path, '' AS project_id, '' AS organization_id, '' AS member_id,
		'' AS client, $(lc "''") AS region, CAST(NULL AS Nullable(Float64)) AS latency_ms,
		emptyArrayString() AS attr_keys, emptyArrayString() AS attr_values, $(lc "''") AS catalog_version,
		$(lc "'$TOPIC'") AS kafka_topic, toUInt32(0) AS kafka_partition, toUInt64(0) AS kafka_offset,
		now() AS kafka_time, now() AS ingested_at, toUInt64(0) AS insert_id, toUInt64(0) AS fingerprint
	FROM $DB.peer_queue" || die "cannot create the Kafka engine's view"
peer_rows=0 last=0 last_t=$(now)
while ((peer_rows < produced)); do
	sleep 0.2
	peer_rows=$(ch "SELECT count() FROM $DB.peer_events")
	if ((peer_rows != last)); then
		last=$peer_rows last_t=$(now)
	elif grep -q 'StorageKafka::streamThread' "$DIR/clickhouse/log/clickhouse-server.err.log"; then
		log "the Kafka engine stored $peer_rows of $produced and failed:"
		grep -m 1 'StorageKafka::streamThread' "$DIR/clickhouse/log/clickhouse-server.err.log" | cut -c1-400 >&2
		break
	elif (($(since "$last_t" | cut -d. -f1) >= PEER_TIMEOUT)); then
		log "the Kafka engine stored $peer_rows of $produced and made no progress for $PEER_TIMEOUT s"
		grep -i kafka "$DIR/clickhouse/log/clickhouse-server.err.log" | tail -n 5 >&2 || true
		break
	fi
done
peer_s=$(since "$t0")
peer_ch=$(delta "$c0" "$(cpu_seconds "$CH_PID")") peer_broker=$(delta "$b0" "$(cpu_seconds "$BROKER_PID")")
# Stop the engine's consumers before faultline runs: they would share the machine.
ch "DROP TABLE $DB.peer_mv" && ch "DROP TABLE $DB.peer_queue" || die "cannot drop the Kafka engine table"
peer_rows=$(ch "SELECT count() FROM $DB.peer_events")

# --- (c) faultline ingest --drain -----------------------------------------------------------
log "(c) ingest --drain x$INGESTERS (group $GROUP, log: ${DIR#"$ROOT"/}/ingest-N.log)"
b0=$(cpu_seconds "$BROKER_PID") c0=$(cpu_seconds "$CH_PID") t0=$(now) fl_t0=$t0
for ((n = 1; n <= INGESTERS; n++)); do
	: >"$DIR/ingest-$n.log"
	prof=()
	((PROFILE)) && prof=(--cpu-profile "$DIR/ingest-$n.cpu")
	/usr/bin/time -v -o "$DIR/ingest-$n.time" "$BIN/ingest" --drain "${prof[@]}" \
		>"$DIR/ingest-$n.out" 2>"$DIR/ingest-$n.log" 9>&- &
	INGEST_PIDS+=("$!")
done
# The drain's progress is the group's (committed offsets), the same in every ingester.
follow "$DIR/ingest-1.log" '^drain: '
failed=0
for ((n = 1; n <= INGESTERS; n++)); do
	wait "${INGEST_PIDS[n - 1]}" || { failed=$n; log "ingester $n failed"; tail -n 30 "$DIR/ingest-$n.log" >&2; }
done
INGEST_PIDS=()
unfollow
((failed == 0)) || die "ingest --drain failed"
fl_s=$(since "$t0")
fl_ch=$(delta "$c0" "$(cpu_seconds "$CH_PID")") fl_broker=$(delta "$b0" "$(cpu_seconds "$BROKER_PID")")
fl_user=0 fl_sys=0 rss_kb=0
for ((n = 1; n <= INGESTERS; n++)); do
	u=$(tv "$DIR/ingest-$n.time" 'User time \(seconds\)') y=$(tv "$DIR/ingest-$n.time" 'System time \(seconds\)')
	r=$(tv "$DIR/ingest-$n.time" 'Maximum resident set size \(kbytes\)')
	[[ -n $u && -n $y && -n $r ]] || { cat "$DIR/ingest-$n.time" >&2; die "cannot parse /usr/bin/time output"; }
	fl_user=$(calc '%.2f' "$fl_user + $u") fl_sys=$(calc '%.2f' "$fl_sys + $y")
	if ((r > rss_kb)); then rss_kb=$r; fi
done
fl_cpu=$(calc '%.2f' "$fl_user + $fl_sys")

events=$(ch "SELECT count() FROM $DB.events")
quarantined=$(ch "SELECT count() FROM $DB.quarantine")
dups=$(ch "SELECT count() - uniqExact(kafka_partition, kafka_offset) FROM (SELECT kafka_partition, kafka_offset FROM $DB.events UNION ALL SELECT kafka_partition, kafka_offset FROM $DB.quarantine)")

# --- (d) the insert limit: the server copies the stored events --------------------------------
log "(d) INSERT INTO copy_events SELECT * FROM events"
copy_table copy_events || die "cannot create copy_events"
c0=$(cpu_seconds "$CH_PID") t0=$(now)
ch "INSERT INTO $DB.copy_events SELECT * FROM $DB.events" || die "INSERT ... SELECT failed"
copy_s=$(since "$t0") copy_ch=$(delta "$c0" "$(cpu_seconds "$CH_PID")")
copied=$(ch "SELECT count() FROM $DB.copy_events")

ok=1 problems=()
((events == produced && quarantined == 0)) || problems+=("faultline stored $events events + $quarantined quarantine of $produced")
((dups == 0)) || problems+=("faultline stored $dups offsets twice")
((peer_rows == produced)) || problems+=("the Kafka engine stored $peer_rows of $produced")
((copied == events)) || problems+=("INSERT ... SELECT copied $copied of $events")
verdict="OK: events == peer_events == copy_events == produced, no offset stored twice"
if ((${#problems[@]})); then
	ok=0
	verdict="MISMATCH: $(printf '%s; ' "${problems[@]}")"
fi

# Two ingesters compare only if both took a share of the backlog: each one's share, and when
# the group was first shared (the first generation that gave every ingester partitions).
spread_note="" share_lines=""
if ((INGESTERS > 1)); then
	# assigned N: "generation partitions unix-time" for each "partitions assigned" line.
	assigned() {
		sed -nE 's/^time=([^ ]+) .*msg="partitions assigned" generation=([0-9]+) partitions=([0-9]+).*/\2 \3 \1/p' "$DIR/ingest-$1.log" |
			while read -r g p at; do printf '%s %s %s\n' "$g" "$p" "$(date -d "$at" +%s.%N)"; done
	}
	shared_gen=""
	for ((n = 1; n <= INGESTERS; n++)); do
		c=$(sed -nE 's/^consumed ([0-9]+) .*/\1/p' "$DIR/ingest-$n.out")
		c=${c:-0}
		gens=$(assigned "$n" | awk '{ printf "%sgen %s: %s", (NR > 1 ? ", " : ""), $1, $2 }')
		share_lines+=$(printf '\ningester %d share          %s of %s (%s%%), partitions by generation: %s' "$n" "$c" "$events" "$(calc '%.0f' "100 * $c / ($events > 0 ? $events : 1)")" "${gens:-none}")
		if ((c * 10 < events)); then
			spread_note+=$'\n'"NOTE                      ingester $n consumed under 10% of the backlog: the group did not spread it, so this is mostly one ingester's rate"
		fi
	done
	# The first generation in which every ingester had partitions, and when the last of them
	# got its share of it.
	shared=$(for ((n = 1; n <= INGESTERS; n++)); do assigned "$n" | awk -v n="$n" '$2 > 0 { print $1, n, $3 }'; done |
		awk -v want="$INGESTERS" '{ k[$1]++; if ($3 > t[$1]) t[$1] = $3 }
			END { best = ""; for (g in k) if (k[g] == want && (best == "" || g + 0 < best + 0)) best = g; if (best != "") print best, t[best] }')
	if [[ -z $shared ]]; then
		share_lines+=$'\n'"group shared              never: no generation gave every ingester partitions"
	else
		share_lines+=$'\n'"group shared              from generation ${shared%% *}, $(calc '%.1f' "${shared#* } - $fl_t0") s after the start, of ${fl_s} s"
	fi
fi

# The top of ingester 1's CPU profile: what the figures above are made of. Cumulative shares of
# a few entry points (those found in the profile), flat time by library, then pprof's own top.
profile_lines=""
if ((PROFILE)) && [[ -s $DIR/ingest-1.cpu ]]; then
	pp() { go tool pprof "$@" "$BIN/ingest" "$DIR/ingest-1.cpu" 2>/dev/null; }
	top=$(pp -top -nodecount=12 | sed -n '/^ *flat /,$p')
	cum=$(pp -top -cum -nodecount=100000)
	areas=""
	for a in "GC workers=[ /.]runtime\.gcBgMarkWorker$" "GC assists=[ /.]runtime\.gcAssistAlloc$" \
		"kafka-go reader=/kafka-go\.\(\*reader\)\.run$" "checks=/event\.\(\*Checker\)\.Check$" \
		"clickhouse-go column appends=/clickhouse-go/v2\.\(\*batchColumn\)\.Append$" \
		"clickhouse-go Send=/clickhouse-go/v2\.\(\*batch\)\.Send$"; do
		pct=$(grep -m 1 -E "${a#*=}" <<<"$cum" | awk '{ print $5 }' || true) # an entry point may be absent
		[[ -n $pct ]] && areas+="${areas:+, }${a%%=*} $pct"
	done
	bylib=$(pp -top -nodecount=100000 | awk '
		$2 ~ /%$/ && $1 ~ /[0-9](s|ms|us)$/ {
			n = $6; pct = $2; sub(/%$/, "", pct)
			if (n ~ /^runtime\.|^internal\/runtime|^gcWriteBarrier|^aeshashbody|^memeqbody|^indexbytebody/) b = "Go runtime (GC, malloc, maps, copies)"
			else if (n ~ /segmentio\/kafka-go/) b = "kafka-go"
			else if (n ~ /pierrec\/lz4/) b = "lz4"
			else if (n ~ /ClickHouse\/(clickhouse-go|ch-go)|go-faster\/city/) b = "clickhouse-go + ch-go"
			else if (n ~ /faultline\/faultline\/event/) b = "faultline checks"
			else if (n ~ /faultline\/faultline\//) b = "faultline pipeline"
			else if (n ~ /^syscall\.|^internal\/poll|^net\./) b = "syscalls"
			else b = "other"
			s[b] += pct
		}
		END { for (b in s) printf "%.0f%% %s\n", s[b], b }' | sort -rn | paste -sd';' - | sed 's/;/; /g')
	profile_lines=$'\n'"ingester 1 CPU profile    ${DIR#"$ROOT"/}/ingest-1.cpu (go tool pprof -top .run/bin/ingest FILE)"
	profile_lines+=$'\n'"  cumulative: ${areas:-none of the usual entry points found}"
	profile_lines+=$'\n'"  flat by library: $bylib"$'\n'"$(sed 's/^/  /' <<<"$top")"
fi

rate() { calc '%.0f' "$1 / ($2 > 0 ? $2 : 0.01)"; }
kcat_rate=$(rate "$produced" "$kcat_s") peer_rate=$(rate "$peer_rows" "$peer_s")
fl_rate=$(rate "$events" "$fl_s") copy_rate=$(rate "$copied" "$copy_s")
ratio() { calc '%.2f' "$1 / ($2 > 0 ? $2 : 1)"; }
cat <<EOF

============================== faultline bench: side by side ==============================
machine      $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (compare contenders within one run; a busy machine slows all)
events       $produced bare bodies, all well-formed, catalog types only (18.16's Kafka engine stops
             at the first message it cannot parse and cannot read envelopes), $PARTITIONS partitions
state        ${DIR#"$ROOT"/} ($STATE_FS)
produced in  ${produce_s} s ($(rate "$produced" "$produce_s") msg/s, loadgen)
--------------------------------------------------------------------------------------------
contender                                   rows        s     rows/s   broker CPU  server CPU
(a) kcat -C -e -o beginning (consume limit) $(printf '%-10s %7s %10s %11s %11s' "$produced" "$kcat_s" "$kcat_rate" "$kcat_broker" "-")
(b) Kafka engine + MV x$PEER_CONSUMERS (peer)            $(printf '%-10s %7s %10s %11s %11s' "$peer_rows" "$peer_s" "$peer_rate" "$peer_broker" "$peer_ch")
(c) faultline ingest --drain x$INGESTERS            $(printf '%-10s %7s %10s %11s %11s' "$events" "$fl_s" "$fl_rate" "$fl_broker" "$fl_ch")
(d) INSERT ... SELECT (insert limit)        $(printf '%-10s %7s %10s %11s %11s' "$copied" "$copy_s" "$copy_rate" "-" "$copy_ch")
--------------------------------------------------------------------------------------------
faultline / peer          $(ratio "$fl_rate" "$peer_rate")x
faultline / insert limit  $(ratio "$fl_rate" "$copy_rate")x
faultline / consume limit $(ratio "$fl_rate" "$kcat_rate")x   (kcat CPU ${kcat_cpu} s)
ingester CPU              ${fl_cpu} s (user $fl_user + sys $fl_sys, $INGESTERS process(es)) -> $(rate "$events" "$fl_cpu") events per CPU-second
ingester peak RSS         $(calc '%.1f' "$rss_kb / 1024") MiB (largest of $INGESTERS, /usr/bin/time -v)
$(for ((n = 1; n <= INGESTERS; n++)); do printf 'ingester %d says          %s\n' "$n" "$(sed -n '$p' "$DIR/ingest-$n.out")"; done)${share_lines}${spread_note}
check                     $verdict${profile_lines}
============================================================================================
EOF
((ok)) || exit 1
