#!/usr/bin/env bash
# make bench: end-to-end throughput of the ingester on this machine.
#
# Starts its own dev broker and clickhouse-server (own ports, state under .run/bench/, wiped at
# every start, so it never touches `make services-up`), produces BENCH_EVENTS generated events
# (default 1000000) to a 6-partition topic with loadgen, then runs `ingest --drain` against a
# fresh database and consumer group under /usr/bin/time -v. Prints events/s end to end, events
# per ingester CPU-second, the ingester's peak RSS, and checks in ClickHouse that
# events + quarantine == produced (and no offset is stored twice). Stops everything it started
# on exit, Ctrl-C included. Needs `make deps` (clickhouse-server, GNU time).
#
# Environment: BENCH_EVENTS (messages to produce), BENCH_KAFKA_PORT (29092),
# BENCH_CH_TCP_PORT (29000), BENCH_CH_HTTP_PORT (28123).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.run/bin"
DIR="$ROOT/.run/bench"
EVENTS="${BENCH_EVENTS:-1000000}"
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

source "$ROOT/scripts/proc.sh"

cleanup() {
	trap - EXIT INT TERM
	unfollow
	if [[ -n $CHILD_PID ]] && pid_alive "$CHILD_PID"; then
		# GNU time does not forward signals: stop the program it runs, then time itself.
		local kids
		kids=$(cat "/proc/$CHILD_PID/task/$CHILD_PID/children" 2>/dev/null || true)
		for k in $kids; do stop_pid "$k" "child" 40 || true; done
		stop_pid "$CHILD_PID" "child" 5 || true
	fi
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

rm -rf "$DIR"
mkdir -p "$DIR/kafka" "$DIR/clickhouse/log"

log "starting devbroker on $KAFKA_ADDR (topic $TOPIC, $PARTITIONS partitions)"
setsid "$BIN/devbroker" --addr "$KAFKA_ADDR" --data-dir "$DIR/kafka" \
	--topic "$TOPIC" --partitions "$PARTITIONS" --group-min-session-timeout 500ms \
	</dev/null >"$DIR/devbroker.log" 2>&1 9>&- &
BROKER_PID=$!

log "starting clickhouse-server on 127.0.0.1:$CH_TCP_PORT (http $CH_HTTP_PORT)"
sed "s#@DATA_DIR@#$DIR/clickhouse#g" "$ROOT/deploy/clickhouse/config.xml.tmpl" >"$DIR/clickhouse/config.xml"
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

cd "$ROOT"
log "producing $EVENTS events with loadgen (log: ${DIR#"$ROOT"/}/loadgen.log)"
t0=$(date +%s.%N)
: >"$DIR/loadgen.log"
follow "$DIR/loadgen.log" 'msg=progress'
run_child "$DIR/loadgen.log" "$DIR/loadgen.log" "$BIN/loadgen" --brokers "$KAFKA_ADDR" --topic "$TOPIC" \
	--partitions "$PARTITIONS" --count "$EVENTS" --summary-json "$DIR/truth.json" ||
	{ unfollow; tail -n 20 "$DIR/loadgen.log" >&2; die "loadgen failed"; }
unfollow
produce_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')

# Top-level keys of the indented summary JSON (nested maps are indented deeper).
truth() { sed -nE "s/^  \"$1\": ([0-9]+),?$/\1/p" "$DIR/truth.json"; }
produced=$(truth total) accepted=$(truth accepted) rejected=$(truth rejected)
[[ -n $produced && -n $accepted && -n $rejected ]] || die "cannot read totals from ${DIR#"$ROOT"/}/truth.json"
[[ $produced == "$EVENTS" ]] || die "loadgen delivered $produced of $EVENTS messages (see ${DIR#"$ROOT"/}/loadgen.log)"

log "ingest migrate (database $DB)"
"$BIN/ingest" migrate >"$DIR/migrate.log" 2>&1 || { cat "$DIR/migrate.log" >&2; die "ingest migrate failed"; }

log "ingest --drain (group $GROUP, log: ${DIR#"$ROOT"/}/ingest.log)"
broker_cpu0=$(cpu_seconds "$BROKER_PID") ch_cpu0=$(cpu_seconds "$CH_PID")
: >"$DIR/ingest.log"
follow "$DIR/ingest.log" '^drain: '
run_child "$DIR/ingest.out" "$DIR/ingest.log" /usr/bin/time -v -o "$DIR/ingest.time" "$BIN/ingest" --drain ||
	{ unfollow; tail -n 30 "$DIR/ingest.log" >&2; cat "$DIR/ingest.out" >&2; die "ingest --drain failed"; }
unfollow
broker_cpu=$(awk -v a="$broker_cpu0" -v b="$(cpu_seconds "$BROKER_PID")" 'BEGIN { printf "%.2f", b - a }')
ch_cpu=$(awk -v a="$ch_cpu0" -v b="$(cpu_seconds "$CH_PID")" 'BEGIN { printf "%.2f", b - a }')

tv() { sed -nE "s/^[[:space:]]*$1: (.*)$/\1/p" "$DIR/ingest.time"; }
user=$(tv 'User time \(seconds\)') sys=$(tv 'System time \(seconds\)')
wall=$(tv 'Elapsed \(wall clock\) time \(h:mm:ss or m:ss\)') rss_kb=$(tv 'Maximum resident set size \(kbytes\)')
[[ -n $user && -n $sys && -n $wall && -n $rss_kb ]] || { cat "$DIR/ingest.time" >&2; die "cannot parse /usr/bin/time output"; }
wall_s=$(awk -v t="$wall" 'BEGIN { n = split(t, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }')

events=$(ch "SELECT count() FROM $DB.events")
quarantined=$(ch "SELECT count() FROM $DB.quarantine")
dups=$(ch "SELECT count() - uniqExact(kafka_partition, kafka_offset) FROM (SELECT kafka_partition, kafka_offset FROM $DB.events UNION ALL SELECT kafka_partition, kafka_offset FROM $DB.quarantine)")
stored=$((events + quarantined))

ok=1
verdict="OK: events + quarantine == produced, no offset stored twice"
if ((stored != produced || dups != 0 || events != accepted || quarantined != rejected)); then
	ok=0
	verdict="MISMATCH: produced $produced (accepted $accepted, rejected $rejected), stored $events events + $quarantined quarantine, $dups duplicate offsets"
fi

calc() { awk "BEGIN { printf \"$1\", $2 }"; }
cat <<EOF

==================== faultline bench ====================
machine        $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (shared box: figures are noisy)
produced       $produced messages ($accepted accepted, $rejected to be rejected) in ${produce_s} s ($(calc '%.0f' "$produced / $produce_s") msg/s, loadgen)
ingest --drain $(sed -n '$p' "$DIR/ingest.out")
---------------------------------------------------------
events         $produced
elapsed        ${wall_s} s  (ingester wall clock, start to exit, Kafka -> ClickHouse -> committed)
end to end     $(calc '%.0f' "$produced / $wall_s") events/s
ingester CPU   $(calc '%.2f' "$user + $sys") s (user $user + sys $sys) -> $(calc '%.0f' "$produced / ($user + $sys)") events per CPU-second
peak RSS       $(calc '%.1f' "$rss_kb / 1024") MiB (ingester, /usr/bin/time -v)
broker CPU     ${broker_cpu} s during the drain;  clickhouse CPU ${ch_cpu} s
clickhouse     events $events + quarantine $quarantined = $stored
check          $verdict
=========================================================
EOF
((ok)) || exit 1
