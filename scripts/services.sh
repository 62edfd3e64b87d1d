#!/usr/bin/env bash
# Starts, stops and reports the local dev services, tracked by PID files under .run/:
#   devbroker (kfake Kafka broker)  127.0.0.1:9092, data in .run/kafka
#   clickhouse-server 18.16         127.0.0.1:9000 (native), 127.0.0.1:8123 (HTTP), data in .run/clickhouse
# Usage: scripts/services.sh up|down|status
# Idempotent: "up" leaves running services alone, "down" is a no-op when nothing runs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN="$ROOT/.run"
KAFKA_ADDR=127.0.0.1:9092
CH_TCP_PORT=9000
CH_HTTP_PORT=8123

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# alive PIDFILE NAME: true when the PID in PIDFILE is a live (not zombie) process
# whose command line mentions NAME, so a recycled PID is not mistaken for ours.
alive() {
	local pidfile=$1 name=$2 pid state
	[[ -f $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/stat ]] || return 1
	# Field 3 of /proc/PID/stat is the state; a zombie still answers kill -0.
	state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $state != Z ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name"
}

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for DESC SECONDS CMD...: polls CMD every 0.2 s.
wait_for() {
	local desc=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 5; i++)); do
		if "$@"; then return 0; fi
		sleep 0.2
	done
	return 1
}

ch_ping() { [[ $(curl -sf "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null) == "Ok." ]]; }

start_broker() {
	local pidfile="$RUN/devbroker.pid"
	if alive "$pidfile" devbroker; then
		log "devbroker already running (pid $(<"$pidfile"))"
		return
	fi
	if port_open 127.0.0.1 "${KAFKA_ADDR##*:}"; then
		die "port ${KAFKA_ADDR##*:} is taken by a process not started by this script"
	fi
	mkdir -p "$RUN/bin" "$RUN/kafka"
	log "building devbroker"
	(cd "$ROOT" && go build -ldflags "${FAULTLINE_LDFLAGS:-}" -o "$RUN/bin/devbroker" ./cmd/devbroker)
	setsid "$RUN/bin/devbroker" --addr "$KAFKA_ADDR" --data-dir "$RUN/kafka" \
		--topic api-errors --partitions 6 --group-min-session-timeout 500ms \
		</dev/null >>"$RUN/devbroker.log" 2>&1 &
	echo $! >"$pidfile"
	if ! wait_for "devbroker" 20 port_open 127.0.0.1 "${KAFKA_ADDR##*:}"; then
		tail -n 20 "$RUN/devbroker.log" >&2 || true
		die "devbroker did not open $KAFKA_ADDR within 20 s (log: $RUN/devbroker.log)"
	fi
	log "devbroker started (pid $(<"$pidfile"))"
}

start_clickhouse() {
	local pidfile="$RUN/clickhouse.pid" dir="$RUN/clickhouse"
	if alive "$pidfile" clickhouse-server; then
		log "clickhouse-server already running (pid $(<"$pidfile"))"
		return
	fi
	if [[ ! -x /usr/sbin/clickhouse-server ]]; then
		log "clickhouse-server missing: installing from apt"
		DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server clickhouse-client >/dev/null ||
			{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server clickhouse-client >/dev/null; }
	fi
	if port_open 127.0.0.1 "$CH_TCP_PORT" || port_open 127.0.0.1 "$CH_HTTP_PORT"; then
		die "port $CH_TCP_PORT or $CH_HTTP_PORT is taken by a process not started by this script"
	fi
	mkdir -p "$dir/log"
	sed "s#@DATA_DIR@#$dir#g" "$ROOT/deploy/clickhouse/config.xml.tmpl" >"$dir/config.xml"
	cp "$ROOT/deploy/clickhouse/users.xml" "$dir/users.xml"
	setsid /usr/sbin/clickhouse-server --config-file="$dir/config.xml" -- \
		--tcp_port="$CH_TCP_PORT" --http_port="$CH_HTTP_PORT" \
		</dev/null >>"$dir/log/stdout.log" 2>&1 &
	echo $! >"$pidfile"
	if ! wait_for "clickhouse" 30 ch_ping; then
		tail -n 20 "$dir/log/clickhouse-server.err.log" "$dir/log/stdout.log" >&2 || true
		die "clickhouse-server did not answer http://127.0.0.1:$CH_HTTP_PORT/ping within 30 s"
	fi
	log "clickhouse-server started (pid $(<"$pidfile"))"
}

# stop PIDFILE NAME: SIGTERM, wait up to 20 s, then SIGKILL.
stop() {
	local pidfile=$1 name=$2 pid i
	if ! alive "$pidfile" "$name"; then
		rm -f "$pidfile"
		log "$name not running"
		return
	fi
	pid=$(<"$pidfile")
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pidfile" "$name" || break
		sleep 0.2
	done
	if alive "$pidfile" "$name"; then
		log "$name (pid $pid) ignored SIGTERM for 20 s: killing"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	rm -f "$pidfile"
	log "$name stopped"
}

status() {
	local rc=0
	if alive "$RUN/devbroker.pid" devbroker; then
		echo "devbroker:  running (pid $(<"$RUN/devbroker.pid"))  kafka $KAFKA_ADDR"
	else
		echo "devbroker:  stopped"
		rc=1
	fi
	if alive "$RUN/clickhouse.pid" clickhouse-server; then
		echo "clickhouse: running (pid $(<"$RUN/clickhouse.pid"))  native 127.0.0.1:$CH_TCP_PORT  http http://127.0.0.1:$CH_HTTP_PORT"
	else
		echo "clickhouse: stopped"
		rc=1
	fi
	return $rc
}

case "${1:-}" in
up)
	mkdir -p "$RUN"
	start_broker
	start_clickhouse
	status
	echo "users: default (writer), faultline_ro (read-only); both without password, loopback only"
	;;
down)
	stop "$RUN/devbroker.pid" devbroker
	stop "$RUN/clickhouse.pid" clickhouse-server
	;;
status)
	status
	;;
*)
	echo "usage: $0 up|down|status" >&2
	exit 2
	;;
esac
