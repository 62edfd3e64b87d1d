#!/usr/bin/env bash
# Installs what a fresh Debian bookworm machine lacks to build and test faultline:
#   clickhouse-server + clickhouse-client 18.16, kcat, GNU time, prometheus + promtool,
#   prometheus-alertmanager + amtool, podman + buildah + runc (make image and its test),
#   zookeeper (the 2x2 ClickHouse cluster of internal/testenv) (apt),
#   and libchdb.so (ClickHouse 26.7 as a
#   library, npm package @chdb/lib-linux-x64-gnu) into .run/chdb.
# Idempotent and quick when everything is present; prints CHDB_LIB_PATH=... last.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHDB_PKG="@chdb/lib-linux-x64-gnu@26.7.3-stable.1"
CHDB_SUBPATH="node_modules/@chdb/lib-linux-x64-gnu/libchdb.so"

log() { printf 'deps: %s\n' "$*" >&2; }

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; fi

apt_updated=0
apt_install() {
	if ((apt_updated == 0)); then
		log "apt-get update"
		$SUDO apt-get update -qq
		apt_updated=1
	fi
	log "apt-get install $*"
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
[[ -x /usr/sbin/clickhouse-server ]] || missing+=(clickhouse-server)
[[ -x /usr/bin/clickhouse-client ]] || missing+=(clickhouse-client)
command -v kcat >/dev/null || missing+=(kcat)
command -v curl >/dev/null || missing+=(curl)
# GNU time: make bench measures the ingester's CPU and peak RSS with /usr/bin/time -v.
[[ -x /usr/bin/time ]] || missing+=(time)
# ZooKeeper for the ClickHouse cluster tests (internal/testenv runs it with java, no systemd).
[[ -f /usr/share/java/zookeeper.jar ]] || missing+=(zookeeper)
if ((${#missing[@]})); then
	apt_install "${missing[@]}"
fi

missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
if ((${#missing[@]})); then
	# Recommends would pull in node exporters etc. that we never run.
	apt_install --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u)
fi

missing=()
command -v podman >/dev/null || missing+=(podman)
command -v buildah >/dev/null || missing+=(buildah)
# crun, podman's default runtime, cannot start containers on hosts with hybrid cgroups.
command -v runc >/dev/null || missing+=(runc)
command -v kubectl >/dev/null || log "kubectl not found: the deploy/kubernetes test renders with kubectl kustomize; install kubectl (it is not in Debian bookworm)"
if ((${#missing[@]})); then
	# Without --no-install-recommends docker.io comes along.
	apt_install --no-install-recommends "${missing[@]}"
fi

# The Debian packages try to start their services; without systemd that fails
# harmlessly, and we run every server ourselves (scripts/services.sh, internal/testenv).

chdb=""
for cand in "${CHDB_LIB_PATH:-}" "$ROOT/.run/chdb/$CHDB_SUBPATH" "/opt/chdb/$CHDB_SUBPATH"; do
	if [[ -n $cand && -f $cand ]]; then
		chdb=$cand
		break
	fi
done
if [[ -z $chdb ]]; then
	command -v npm >/dev/null || { log "ERROR: npm is needed to fetch $CHDB_PKG"; exit 1; }
	log "npm install $CHDB_PKG into .run/chdb (about 570 MB)"
	mkdir -p "$ROOT/.run/chdb"
	npm install --prefix "$ROOT/.run/chdb" --no-audit --no-fund --loglevel=error "$CHDB_PKG" >&2
	chdb="$ROOT/.run/chdb/$CHDB_SUBPATH"
	[[ -f $chdb ]] || { log "ERROR: $chdb missing after npm install"; exit 1; }
fi

log "all dependencies present"
echo "CHDB_LIB_PATH=$chdb"
