#!/usr/bin/env bash
# make run: the whole pipeline on this machine, with a history, live traffic and a spike.
#
# Starts the local services (scripts/services.sh up: broker 127.0.0.1:9092, ClickHouse
# 127.0.0.1:9000/8123), applies the schema (ingest migrate), starts the ingester (metrics on
# 127.0.0.1:9464, config.yaml), then:
#   1. loads RUN_HISTORY (default 3h) of back-dated traffic at RUN_RATE with a daily shape
#      (RUN_DAILY amplitude, default 0.5) and waits until it is stored, so `query spikes` and
#      `trend` have a baseline at once (skipped when the events table already holds older
#      rows: a second make run does not double the history);
#   2. starts Prometheus (127.0.0.1:RUN_PROM_PORT, default 9090) with the generated rules and
#      Alertmanager (127.0.0.1:RUN_AM_PORT, default 9093) with deploy/alertmanager;
#   3. starts the live load generator at RUN_RATE events/s (default 200) with RUN_SPIKE
#      (default billing_not_verified:20x:5m@30s: twenty times the usual rate for five minutes,
#      from 30 s in), prints where to look and a status line every 10 s, including the spike
#      alert's state and whether `query spikes --window 1m` already finds the spike.
# Ctrl-C (or SIGTERM) stops the load generator, Prometheus and Alertmanager, then the ingester
# with SIGTERM so it flushes and commits, and waits for all. The services stay up:
# `make services-down`.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.run/bin"
DIR="$ROOT/.run/run"
RATE="${RUN_RATE:-200}"
HISTORY="${RUN_HISTORY:-3h}"
DAILY="${RUN_DAILY:-0.5}"
PROM_PORT="${RUN_PROM_PORT:-9090}"
AM_PORT="${RUN_AM_PORT:-9093}"
SPIKE="${RUN_SPIKE:-billing_not_verified:20x:5m@30s}"
SPIKE_TYPE="${SPIKE%%:*}"
METRICS="${FAULTLINE_METRICS_LISTEN:-127.0.0.1:9464}"
CH_HTTP=http://127.0.0.1:8123
DB="${FAULTLINE_CLICKHOUSE_DATABASE:-faultline}"

log() { printf 'run: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $RATE =~ ^[0-9]+([.][0-9]+)?$ && $RATE != 0 ]] || die "RUN_RATE=$RATE: want events per second above 0"
[[ $DB =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "database name $DB: want ^[A-Za-z_][A-Za-z0-9_]*$"
[[ $HISTORY =~ ^[0-9]+[smh]$ ]] || die "RUN_HISTORY=$HISTORY: want a duration such as 3h, 90m or 0s (none)"
[[ $PROM_PORT =~ ^[0-9]+$ && $AM_PORT =~ ^[0-9]+$ ]] || die "RUN_PROM_PORT/RUN_AM_PORT: want port numbers"

mkdir -p "$ROOT/.run" "$DIR"
exec 9>"$ROOT/.run/run.lock"
flock -n 9 || die "another make run is running in this tree (.run/run.lock)"

INGEST_PID="" LOADGEN_PID="" SLEEP_PID="" PROM_PID="" AM_PID=""

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
	[[ -n $PROM_PID ]] && { log "stopping Prometheus"; stop_pid "$PROM_PID" prometheus 15 || true; }
	[[ -n $AM_PID ]] && { log "stopping Alertmanager"; stop_pid "$AM_PID" alertmanager 15 || true; }
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
(cd "$ROOT" && for c in ingest loadgen query; do go build -ldflags "${FAULTLINE_LDFLAGS:-}" -o "$BIN/$c" "./cmd/$c" || exit 1; done) ||
	die "go build failed"
for p in "$PROM_PORT" "$AM_PORT"; do
	port_open 127.0.0.1 "$p" && die "127.0.0.1:$p is taken (another Prometheus/Alertmanager?): set RUN_PROM_PORT / RUN_AM_PORT"
done

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

ch() { curl -sf "$CH_HTTP/" --data-binary "$1" 2>/dev/null; }

# 1. History: back-dated traffic, stored before anything live starts.
older=$(ch "SELECT count() FROM $DB.events WHERE event_time < now() - 600" || echo 0)
if [[ $HISTORY =~ ^0+[smh]$ ]]; then
	log "no history (RUN_HISTORY=$HISTORY)"
elif [[ ${older:-0} != 0 ]]; then
	log "history: $DB.events already holds $older rows older than 10 minutes; not loading another $HISTORY (make services-down and remove .run/services for a fresh start)"
else
	before=$(ch "SELECT count() FROM $DB.events" || echo 0)
	log "history: $HISTORY of back-dated traffic at $RATE events/s, daily amplitude $DAILY (log: .run/run/history.log)"
	"$BIN/loadgen" --history "$HISTORY" --history-rate "$RATE" --daily-amplitude "$DAILY" \
		>"$DIR/history.log" 2>&1 9>&- || { tail -n 20 "$DIR/history.log" >&2; die "loading the history failed"; }
	sent=$(sed -n 's/.*msg="history done" sent=\([0-9]*\).*/\1/p' "$DIR/history.log" | tail -n 1)
	# Accepted rows are about 97% of messages (the rest go to quarantine); wait for 95%.
	want=$((before + ${sent:-0} * 95 / 100))
	log "history: $sent messages sent; waiting until the ingester stored them"
	for ((i = 0; i < 600; i++)); do
		rows=$(ch "SELECT count() FROM $DB.events" || echo 0)
		((rows >= want)) && break
		((i % 10 == 0)) && log "history: $rows of about $want rows stored"
		pid_alive "$INGEST_PID" || { tail -n 20 "$DIR/ingest.log" >&2; die "the ingester exited while storing the history"; }
		sleep 1
	done
	((rows >= want)) || die "history not stored after 10 minutes ($rows of $want rows)"
	log "history: stored ($rows rows)"
fi

# 2. Prometheus (after the history, so its rates see only live traffic) and Alertmanager.
mkdir -p "$DIR/prometheus" "$DIR/alertmanager"
cat >"$DIR/prometheus.yml" <<PROM
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $ROOT/deploy/prometheus/rules/faultline.rules.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:$AM_PORT"]
scrape_configs:
  - job_name: faultline-ingest
    static_configs:
      - targets: ["$METRICS"]
PROM
log "starting Alertmanager on 127.0.0.1:$AM_PORT and Prometheus on 127.0.0.1:$PROM_PORT (logs: .run/run/alertmanager.log, prometheus.log)"
prometheus-alertmanager --config.file="$ROOT/deploy/alertmanager/alertmanager.yml" --storage.path="$DIR/alertmanager" \
	--web.listen-address="127.0.0.1:$AM_PORT" --cluster.listen-address= >"$DIR/alertmanager.log" 2>&1 9>&- &
AM_PID=$!
prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/prometheus" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$DIR/prometheus.log" 2>&1 9>&- &
PROM_PID=$!
for ((i = 0; i < 75; i++)); do
	curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && curl -sf "http://127.0.0.1:$AM_PORT/-/ready" >/dev/null 2>&1 && break
	pid_alive "$PROM_PID" || { tail -n 20 "$DIR/prometheus.log" >&2; die "Prometheus exited during start-up"; }
	pid_alive "$AM_PID" || { tail -n 20 "$DIR/alertmanager.log" >&2; die "Alertmanager exited during start-up"; }
	sleep 0.2
done

# 3. Live traffic with the spike.
log "starting the load generator: $RATE events/s, spike $SPIKE (log: .run/run/loadgen.log)"
"$BIN/loadgen" --rate "$RATE" --count 0 --daily-amplitude "$DAILY" --spike "$SPIKE" >"$DIR/loadgen.log" 2>&1 9>&- &
LOADGEN_PID=$!
SPIKE_ALERT=$(awk -v t="$SPIKE_TYPE" 'BEGIN { n = split(t, p, "_"); s = "Faultline"; for (i = 1; i <= n; i++) s = s toupper(substr(p[i], 1, 1)) substr(p[i], 2); print s "Spike" }')
grep -q "alert: $SPIKE_ALERT\$" "$ROOT/deploy/prometheus/rules/faultline.rules.yml" || SPIKE_ALERT=FaultlineErrorSpike

cat <<EOF

faultline is running: loadgen -> Kafka 127.0.0.1:9092 (topic api-errors) -> ingest -> ClickHouse 127.0.0.1:9000
  load        $RATE events/s; spike $SPIKE
  metrics     http://$METRICS/metrics   (also /healthz, /readyz)
              curl -s $METRICS/metrics | grep $SPIKE_TYPE
  queries     .run/bin/query spikes --window 1m        (finds the spike about a minute after it starts)
              .run/bin/query trend --since $HISTORY --error-type $SPIKE_TYPE --out spike.png
              .run/bin/query top --since 15m
  alerts      http://127.0.0.1:$PROM_PORT/alerts   ($SPIKE_ALERT: pending, then firing 2m later)
              http://127.0.0.1:$AM_PORT/#/alerts    amtool --alertmanager.url=http://127.0.0.1:$AM_PORT alert query
              (the spike rules' baseline is Prometheus' own last hour: it has none yet, so types
              above the 5/min floor alert too in the first hour)
  SQL         clickhouse-client --query "SELECT error_type, count() FROM $DB.events WHERE event_time > now() - 900 GROUP BY error_type ORDER BY count() DESC LIMIT 10"
  logs        .run/run/{ingest,history,loadgen,prometheus,alertmanager}.log
  stop        Ctrl-C (stops ingester and loadgen; services stay up), then make services-down

EOF

start=$SECONDS
next=10
while :; do
	sleep 1 &
	SLEEP_PID=$!
	wait "$SLEEP_PID" || true
	SLEEP_PID=""
	# Ctrl-C reaches the children too (one process group) and may stop them before this
	# shell runs its INT trap: a child that exited 0 was asked to stop, not crashed.
	if ! pid_alive "$INGEST_PID" && wait "$INGEST_PID" 2>/dev/null; then
		INGEST_PID=""
		STOP_REQUESTED=1
		exit 130
	fi
	if ! pid_alive "$LOADGEN_PID" && wait "$LOADGEN_PID" 2>/dev/null; then
		LOADGEN_PID=""
		STOP_REQUESTED=1
		exit 130
	fi
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
		# No pipelines into grep -q/head here: under pipefail their early exit fails the line.
		alerts=$(curl -sf "http://127.0.0.1:$PROM_PORT/api/v1/alerts" 2>/dev/null || true)
		state=inactive
		re="\"alertname\":\"$SPIKE_ALERT\"[^}]*\\}[^}]*\\}[^}]*\"state\":\"([a-z]+)\""
		[[ $alerts =~ $re ]] && state=${BASH_REMATCH[1]}
		spikes=$("$BIN/query" spikes --window 1m --format csv 2>/dev/null || true)
		found=no
		[[ $'\n'$spikes == *$'\n'"$SPIKE_TYPE,"* ]] && found=yes
		printf 'run: %4ds  events counted %s (%s: %s)  rows in %s.events %s  %s: %s  query spikes finds it: %s\n' "$((SECONDS - start))" \
			"$(metric_sum .)" "$SPIKE_TYPE" "$(metric_sum "error_type=\"$SPIKE_TYPE\"")" "$DB" "$rows" "$SPIKE_ALERT" "$state" "$found" >&2
	fi
done
