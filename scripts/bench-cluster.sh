#!/usr/bin/env bash
# make bench-cluster: faultline into the 2x2 ClickHouse cluster beside one server, in one run.
#
# Starts its own dev broker, one clickhouse-server 18.16 (as make bench does) and the test
# cluster (cmd/devcluster: ZooKeeper + 2 shards x 2 replicas on free loopback ports), state
# under .run/bench-cluster/ wiped at every start. Produces BENCH_EVENTS (default 1000000)
# well-formed events to a 6-partition topic once, then drains the topic with BENCH_INGESTERS
# (default 2) `ingest --drain` in one consumer group: first into the single server, then, in
# a new group, into the cluster (clickhouse.cluster=faultline, every node in clickhouse.addr,
# each shard's local tables written by its own lane, or Distributed inserts with
# insert_distributed_sync=1 from the nodes' profile with BENCH_CLUSTER_INSERT=distributed). Prints both rates and checks exact counts on each: events
# stored == produced, no Kafka offset stored twice, every shard holding a share, the rollup
# summing to the events. Stops everything it started on exit, Ctrl-C included.
#
# Environment: BENCH_EVENTS, BENCH_INGESTERS (1-6), BENCH_CLUSTER_INSERT (local|distributed),
# BENCH_KAFKA_PORT (29192), BENCH_CH_TCP_PORT (29100), BENCH_CH_HTTP_PORT (28223).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.run/bin"
DIR="$ROOT/.run/bench-cluster"
EVENTS="${BENCH_EVENTS:-1000000}"
INGESTERS="${BENCH_INGESTERS:-2}"
CLUSTER_INSERT="${BENCH_CLUSTER_INSERT:-local}"
KAFKA_PORT="${BENCH_KAFKA_PORT:-29192}"
CH_TCP_PORT="${BENCH_CH_TCP_PORT:-29100}"
CH_HTTP_PORT="${BENCH_CH_HTTP_PORT:-28223}"
KAFKA_ADDR="127.0.0.1:$KAFKA_PORT"
TOPIC=api-errors
PARTITIONS=6
DB=faultline_bench

log() { printf 'bench-cluster: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || die "BENCH_EVENTS=$EVENTS: want a positive whole number"
[[ $INGESTERS =~ ^[1-6]$ ]] || die "BENCH_INGESTERS=$INGESTERS: want 1 to 6 (the topic's partitions)"
[[ $CLUSTER_INSERT == distributed || $CLUSTER_INSERT == local ]] || die "BENCH_CLUSTER_INSERT=$CLUSTER_INSERT: want distributed or local"
for p in "$KAFKA_PORT" "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
	[[ $p =~ ^[0-9]+$ ]] || die "port $p: want a number"
done
[[ -x /usr/sbin/clickhouse-server ]] || die "clickhouse-server missing: run make deps"
[[ -f /usr/share/java/zookeeper.jar ]] || die "zookeeper missing: run make deps"
command -v curl >/dev/null || die "curl missing: run make deps"

mkdir -p "$ROOT/.run"
exec 9>"$ROOT/.run/bench-cluster.lock"
flock -n 9 || die "another make bench-cluster is running in this tree (.run/bench-cluster.lock)"

source "$ROOT/scripts/proc.sh"

BROKER_PID="" CH_PID="" CLUSTER_PID=""
INGEST_PIDS=()
cleanup() {
	trap - EXIT INT TERM
	local c
	for c in "${INGEST_PIDS[@]}"; do
		[[ -n $c ]] && pid_alive "$c" && { stop_pid "$c" ingest 40 || true; }
	done
	if [[ -n $CLUSTER_PID ]]; then stop_pid "$CLUSTER_PID" devcluster 20 || true; fi
	if [[ -n $CH_PID ]]; then stop_pid "$CH_PID" clickhouse-server 20 || true; fi
	if [[ -n $BROKER_PID ]]; then stop_pid "$BROKER_PID" devbroker 20 || true; fi
	log "stopped everything it started (state kept in ${DIR#"$ROOT"/} until the next run)"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT
trap 'log "terminated"; exit 143' TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
ch_ping() { [[ $(curl -sf "http://127.0.0.1:$CH_HTTP_PORT/ping" 2>/dev/null) == "Ok." ]]; }
# chq HTTPADDR SQL
chq() { curl -sSf "http://$1/" --data-binary "$2"; }
wait_for() {
	local secs=$1 i
	shift
	for ((i = 0; i < secs * 5; i++)); do
		if "$@"; then return 0; fi
		sleep 0.2
	done
	return 1
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / (s > 0 ? s : 0.01) }'; }

for p in "$KAFKA_PORT" "$CH_TCP_PORT" "$CH_HTTP_PORT"; do
	port_open "$p" && die "port $p is taken (set BENCH_KAFKA_PORT / BENCH_CH_TCP_PORT / BENCH_CH_HTTP_PORT)"
done

log "building ingest, loadgen, devbroker, devcluster into .run/bin"
mkdir -p "$BIN"
(cd "$ROOT" && for c in ingest loadgen devbroker devcluster; do go build -ldflags "${FAULTLINE_LDFLAGS:-}" -o "$BIN/$c" "./cmd/$c" || exit 1; done) ||
	die "go build failed"

rm -rf "$DIR"
mkdir -p "$DIR/kafka" "$DIR/clickhouse/log" "$DIR/cluster"

log "starting devbroker on $KAFKA_ADDR, clickhouse-server on 127.0.0.1:$CH_TCP_PORT and the 2x2 cluster"
setsid "$BIN/devbroker" --addr "$KAFKA_ADDR" --data-dir "$DIR/kafka" \
	--topic "$TOPIC" --partitions "$PARTITIONS" --group-min-session-timeout 500ms \
	</dev/null >"$DIR/devbroker.log" 2>&1 9>&- &
BROKER_PID=$!
sed -e "s#@DATA_DIR@#$DIR/clickhouse#g" "$ROOT/deploy/clickhouse/config.xml.tmpl" >"$DIR/clickhouse/config.xml"
cp "$ROOT/deploy/clickhouse/users.xml" "$DIR/clickhouse/users.xml"
setsid /usr/sbin/clickhouse-server --config-file="$DIR/clickhouse/config.xml" -- \
	--tcp_port="$CH_TCP_PORT" --http_port="$CH_HTTP_PORT" \
	</dev/null >"$DIR/clickhouse/log/stdout.log" 2>&1 9>&- &
CH_PID=$!
sync_flag=--sync-inserts
[[ $CLUSTER_INSERT == local ]] && sync_flag=""
setsid "$BIN/devcluster" --dir "$DIR/cluster" --env-file "$DIR/cluster.env" $sync_flag \
	</dev/null >"$DIR/devcluster.log" 2>&1 9>&- &
CLUSTER_PID=$!

wait_for 20 port_open "$KAFKA_PORT" || { tail -n 20 "$DIR/devbroker.log" >&2; die "devbroker did not open $KAFKA_ADDR within 20 s"; }
wait_for 30 ch_ping || die "clickhouse-server did not answer on port $CH_HTTP_PORT within 30 s"
wait_for 60 test -s "$DIR/cluster.env" || { tail -n 20 "$DIR/devcluster.log" >&2; die "the cluster did not start within 60 s"; }
# shellcheck disable=SC1091
source "$DIR/cluster.env"
IFS=, read -r -a NODES_HTTP <<<"$CLUSTER_HTTP"

log "producing $EVENTS events with loadgen"
"$BIN/loadgen" --brokers "$KAFKA_ADDR" --topic "$TOPIC" --partitions "$PARTITIONS" --count "$EVENTS" \
	--summary-json "$DIR/truth.json" --envelope-share 0 --malformed-share 0 --unknown-share 0 \
	>"$DIR/loadgen.log" 2>&1 || { tail -n 20 "$DIR/loadgen.log" >&2; die "loadgen failed"; }
produced=$(sed -nE 's/^  "total": ([0-9]+),?$/\1/p' "$DIR/truth.json")
[[ $produced == "$EVENTS" ]] || die "loadgen delivered $produced of $EVENTS messages"

export FAULTLINE_KAFKA_BROKERS="$KAFKA_ADDR" FAULTLINE_KAFKA_TOPIC="$TOPIC"
export FAULTLINE_CLICKHOUSE_DATABASE="$DB" FAULTLINE_METRICS_LISTEN=127.0.0.1:0

# drain NAME: migrate, then BENCH_INGESTERS ingest --drain in a new group; sets drain_s.
drain() {
	local name=$1 n failed=0 t0
	export FAULTLINE_KAFKA_GROUP="faultline-bench-$name-$(date +%s)"
	"$BIN/ingest" migrate >"$DIR/migrate-$name.log" 2>&1 || { cat "$DIR/migrate-$name.log" >&2; die "ingest migrate ($name) failed"; }
	log "$name: ingest --drain x$INGESTERS (logs ${DIR#"$ROOT"/}/ingest-$name-N.log)"
	t0=$(now)
	for ((n = 1; n <= INGESTERS; n++)); do
		"$BIN/ingest" --drain >"$DIR/ingest-$name-$n.out" 2>"$DIR/ingest-$name-$n.log" 9>&- &
		INGEST_PIDS+=("$!")
	done
	for ((n = 1; n <= INGESTERS; n++)); do
		wait "${INGEST_PIDS[n - 1]}" || { failed=$n; tail -n 30 "$DIR/ingest-$name-$n.log" >&2; }
	done
	INGEST_PIDS=()
	((failed == 0)) || die "ingest --drain ($name) failed (ingester $failed)"
	drain_s=$(since "$t0")
}

# --- one server -------------------------------------------------------------------------------
SINGLE_HTTP="127.0.0.1:$CH_HTTP_PORT"
export FAULTLINE_CLICKHOUSE_ADDR="127.0.0.1:$CH_TCP_PORT" FAULTLINE_CLICKHOUSE_CLUSTER=""
drain single
single_s=$drain_s
dupsql="SELECT count() - uniqExact(kafka_topic, kafka_partition, kafka_offset) FROM (SELECT kafka_topic, kafka_partition, kafka_offset FROM $DB.events UNION ALL SELECT kafka_topic, kafka_partition, kafka_offset FROM $DB.quarantine)"
single_events=$(chq "$SINGLE_HTTP" "SELECT count() FROM $DB.events")
single_dups=$(chq "$SINGLE_HTTP" "$dupsql")
single_rollup=$(chq "$SINGLE_HTTP" "SELECT sum(events) FROM $DB.events_per_minute")

# --- the 2x2 cluster --------------------------------------------------------------------------
export FAULTLINE_CLICKHOUSE_ADDR="$CLUSTER_ADDRS" FAULTLINE_CLICKHOUSE_CLUSTER="$CLUSTER_NAME"
export FAULTLINE_CLICKHOUSE_CLUSTER_INSERT="$CLUSTER_INSERT"
drain cluster
cluster_s=$drain_s
# Inserts land on one replica of a shard; let every replica catch up before counting.
for h in "${NODES_HTTP[@]}"; do
	for t in events_local quarantine_local events_per_minute_local stored_offsets_local; do
		chq "$h" "SYSTEM SYNC REPLICA $DB.$t" >/dev/null || die "SYSTEM SYNC REPLICA $DB.$t on $h failed"
	done
done
C=${NODES_HTTP[0]}
cluster_events=$(chq "$C" "SELECT count() FROM $DB.events")
cluster_dups=$(chq "$C" "$dupsql")
cluster_rollup=$(chq "$C" "SELECT sum(events) FROM $DB.events_per_minute")
# Shard-major: nodes 1 and 3 are replica 1 of shards 1 and 2.
shard1=$(chq "${NODES_HTTP[0]}" "SELECT count() FROM $DB.events_local")
shard2=$(chq "${NODES_HTTP[2]}" "SELECT count() FROM $DB.events_local")
replicas_agree=1
[[ $(chq "${NODES_HTTP[1]}" "SELECT count() FROM $DB.events_local") == "$shard1" ]] || replicas_agree=0
[[ $(chq "${NODES_HTTP[3]}" "SELECT count() FROM $DB.events_local") == "$shard2" ]] || replicas_agree=0

problems=()
((single_events == produced && single_dups == 0 && single_rollup == produced)) ||
	problems+=("single server: $single_events events, $single_dups offsets twice, rollup $single_rollup of $produced")
((cluster_events == produced && cluster_dups == 0 && cluster_rollup == produced)) ||
	problems+=("cluster: $cluster_events events, $cluster_dups offsets twice, rollup $cluster_rollup of $produced")
((shard1 > 0 && shard2 > 0 && shard1 + shard2 == cluster_events)) || problems+=("shards hold $shard1 + $shard2 of $cluster_events")
((replicas_agree)) || problems+=("a shard's replicas differ")
verdict="OK: events == rollup == produced on both, no offset stored twice, both shards hold a share, replicas agree"
((${#problems[@]} == 0)) || verdict="MISMATCH: $(printf '%s; ' "${problems[@]}")"

# Two ingesters compare only if both took a share of the backlog.
spread_note=""
for name in single cluster; do
	for ((n = 1; n <= INGESTERS && INGESTERS > 1; n++)); do
		if grep -q '^consumed 0 ' "$DIR/ingest-$name-$n.out"; then
			spread_note+=$'\n'"NOTE                      $name ingester $n consumed nothing: the group did not spread the backlog"
		fi
	done
done

cat <<EOF

=========================== faultline bench: one server and a 2x2 cluster ===========================
machine      $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (all servers and ingesters share it)
events       $produced well-formed bare bodies, $PARTITIONS partitions, $INGESTERS ingesters in one group each time
-------------------------------------------------------------------------------------------------------
target                                          events        s     events/s
one clickhouse-server 18.16                     $(printf '%-10s %8s %11s' "$single_events" "$single_s" "$(rate "$single_events" "$single_s")")
2 shards x 2 replicas ($CLUSTER_INSERT inserts)     $(printf '%-10s %8s %11s' "$cluster_events" "$cluster_s" "$(rate "$cluster_events" "$cluster_s")")
-------------------------------------------------------------------------------------------------------
cluster / one server      $(awk -v a="$single_s" -v b="$cluster_s" 'BEGIN { printf "%.2f", a / (b > 0 ? b : 0.01) }')x
shards                    shard 1: $shard1 events, shard 2: $shard2 events (sharded by kafka_topic, kafka_partition)
$(for ((n = 1; n <= INGESTERS; n++)); do printf 'cluster ingester %d says  %s\n' "$n" "$(sed -n '$p' "$DIR/ingest-cluster-$n.out")"; done)${spread_note}
check                     $verdict
=======================================================================================================
EOF
((${#problems[@]} == 0)) || exit 1
