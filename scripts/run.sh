#!/usr/bin/env bash
# make run: the whole pipeline on this machine, with traffic and a visible spike.
#
# Starts the local services (scripts/services.sh up: broker 127.0.0.1:9092, ClickHouse
# 127.0.0.1:9000/8123), applies the schema (ingest migrate), starts the ingester (metrics on
# 127.0.0.1:9464, config.yaml) and the load generator at RUN_RATE events/s (default 2000) with
# RUN_SPIKE (default billing_not_verified:20x:5m@30s: twenty times the usual rate of
# billing_not_verified for five minutes, from 30 s in), prints where to look and a status line
# every 10 s. Ctrl-C (or SIGTERM) stops the load generator, then the ingester with SIGTERM so
# it flushes and commits, and waits for both. The services stay up: `make services-down`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.run/bin"
DIR="$ROOT/.run/run"
RATE="${RUN_RATE:-2000}"
SPIKE="${RUN_SPIKE:-billing_not_verified:20x:5m@30s}"
SPIKE_TYPE="${SPIKE%%:*}"
METRICS="${FAULTLINE_METRICS_LISTEN:-127.0.0.1:9464}"
CH_HTTP=http://127.0.0.1:8123
DB="${FAULTLINE_CLICKHOUSE_DATABASE:-faultline}"

log() { printf 'run: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $RATE =~ ^[0-9]+([.][0-9]+)?$ && $RATE != 0 ]] || die "RUN_RATE=$RATE: want events per second above 0"
[[ $DB =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name $DB: want ^[A-Za-z_][A-Za-z0-9_]*$"

mkdir -p "$ROOT/.run" "$DIR"
exec 9>"$ROOT/.run/run.lock"
flock -n 9 || die "another make run is running in this tree (.run/run.lock)"

INGEST_PID="" LOADGEN_PID="" SLEEP_PID=""

source "$ROOT/scripts/proc.sh"

STOP_REQUESTED=0
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[[ -n $SLEEP_PID ]] && { kill "$SLEEP_PID" 2>/dev/null || true; wait "$SLEEP_PID" 2>/dev/null || true; }
	echo >&2
	if [[ -n $LOADGEN_PID ]]; then
		log "stopping the load generator"
		stop_pid "$LOADGEN_PID" loadgen 15 || true
		grep 'msg=done' "$DIR/loadgen.log" | tail -n 1 | sed 's/^/  loadgen: /' >&2 || true
	fi
	if [[ -n $INGEST_PID ]]; then
		# SIGTERM: the ingester stops fetching, flushes its batches, commits and leaves the group
		# within ingest.shutdown_timeout (30 s by default).
		log "stopping the ingester (SIGTERM: flush, commit, leave the group)"
		local irc=0
		stop_pid "$INGEST_PID" ingest 45 || irc=$?
		grep -E 'msg=stopped|level=(ERROR|WARN)' "$DIR/ingest.log" | tail -n 3 | sed 's/^/  ingest: /' >&2 || true
		if ((irc != 0)); then
			log "ingester exited with status $irc (log: .run/run/ingest.log)"
			rc=1
		fi
	fi
	# Ctrl-C is how this is meant to end: a clean stop on request is a success.
	if ((STOP_REQUESTED && rc >= 128)); then rc=0; fi
	log "ingester and load generator stopped; services still up (make services-down stops them)"
	exit "$rc"
}
trap cleanup EXIT
trap 'STOP_REQUESTED=1; exit 130' INT
trap 'STOP_REQUESTED=1; exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
ready() { curl -sf "http://$METRICS/readyz" >/dev/null 2>&1; }

# metric_sum REGEX: sum of the samples of faultline_events_total whose labels match REGEX.
metric_sum() {
	curl -sf "http://$METRICS/metrics" 2>/dev/null |
		awk -v re="$1" '/^faultline_events_total\{/ && $0 ~ re { s += $NF } END { printf "%.0f", s }'
}

# 9>&-: the services outlive this script and must not hold its lock.
"$ROOT/scripts/services.sh" up 9>&-

log "building ingest and loadgen into .run/bin"
mkdir -p "$BIN"
(cd "$ROOT" && go build -ldflags "${FAULTLINE_LDFLAGS:-}" -o "$BIN/ingest" ./cmd/ingest && go build -ldflags "${FAULTLINE_LDFLAGS:-}" -o "$BIN/loadgen" ./cmd/loadgen) ||
	die "go build failed"

if port_open "${METRICS%:*}" "${METRICS##*:}"; then
	die "$METRICS is taken: is another ingester running? (stop it, or set FAULTLINE_METRICS_LISTEN)"
fi

cd "$ROOT"
log "ingest migrate"
"$BIN/ingest" migrate >"$DIR/migrate.log" 2>&1 || { cat "$DIR/migrate.log" >&2; die "ingest migrate failed"; }

log "starting the ingester (log: .run/run/ingest.log)"
"$BIN/ingest" run >"$DIR/ingest.log" 2>&1 9>&- &
INGEST_PID=$!
for ((i = 0; i < 150; i++)); do
	ready && break
	pid_alive "$INGEST_PID" || { tail -n 20 "$DIR/ingest.log" >&2; die "the ingester exited during start-up"; }
	sleep 0.2
done
ready || { tail -n 20 "$DIR/ingest.log" >&2; die "the ingester is not ready after 30 s (http://$METRICS/readyz)"; }

log "starting the load generator: $RATE events/s, spike $SPIKE (log: .run/run/loadgen.log)"
"$BIN/loadgen" --rate "$RATE" --count 0 --spike "$SPIKE" >"$DIR/loadgen.log" 2>&1 9>&- &
LOADGEN_PID=$!

cat <<EOF

faultline is running: loadgen -> Kafka 127.0.0.1:9092 (topic api-errors) -> ingest -> ClickHouse 127.0.0.1:9000
  load        $RATE events/s; spike $SPIKE
  metrics     http://$METRICS/metrics   (also /healthz, /readyz)
              curl -s $METRICS/metrics | grep $SPIKE_TYPE
  queries     go run ./cmd/query top --since 15m
              go run ./cmd/query trend --since 15m --error-type $SPIKE_TYPE
              go run ./cmd/query spikes --window 5m --baseline 30m    (needs a few minutes of baseline)
  SQL         clickhouse-client --query "SELECT error_type, count() FROM $DB.events WHERE event_time > now() - 900 GROUP BY error_type ORDER BY count() DESC LIMIT 10"
  logs        .run/run/ingest.log  .run/run/loadgen.log
  stop        Ctrl-C (stops ingester and loadgen; services stay up), then make services-down

EOF

start=$SECONDS
next=10
while :; do
	sleep 1 &
	SLEEP_PID=$!
	wait "$SLEEP_PID" || true
	SLEEP_PID=""
	if ! pid_alive "$INGEST_PID"; then
		tail -n 20 "$DIR/ingest.log" >&2
		die "the ingester stopped unexpectedly (log: .run/run/ingest.log)"
	fi
	if ! pid_alive "$LOADGEN_PID"; then
		tail -n 20 "$DIR/loadgen.log" >&2
		die "the load generator stopped unexpectedly (log: .run/run/loadgen.log)"
	fi
	if ((SECONDS - start >= next)); then
		next=$((next + 10))
		rows=$(curl -sf "$CH_HTTP/" --data-binary "SELECT count() FROM $DB.events" 2>/dev/null || echo '?')
		printf 'run: %4ds  events counted %s (%s: %s)  rows in %s.events %s\n' "$((SECONDS - start))" \
			"$(metric_sum .)" "$SPIKE_TYPE" "$(metric_sum "error_type=\"$SPIKE_TYPE\"")" "$DB" "$rows" >&2
	fi
done
