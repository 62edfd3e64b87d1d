#!/usr/bin/env bash
# make image: build every command on the host (CGO_ENABLED=0) and pack them into a FROM scratch
# image with podman (deploy/image/Containerfile), so no registry is needed.
#
#   IMAGE            tag to build (default localhost/faultline:dev)
#   IMAGE_ROOT       podman --root   (default: podman's own storage)
#   IMAGE_RUNROOT    podman --runroot (with IMAGE_ROOT)
#   IMAGE_TMPDIR     podman --tmpdir (libpod's runtime state; default /run/libpod)
#   IMAGE_STORAGE_DRIVER  podman --storage-driver (e.g. vfs, which leaves no mounts behind)
#   IMAGE_ARCHIVE    also write the image there as an OCI archive (podman load -i FILE)
# Prints IMAGE=<tag> last.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IMAGE="${IMAGE:-localhost/faultline:dev}"
GO="${GO:-go}"
CMDS=(ingest query loadgen faultline-gen devbroker)

log() { printf 'image: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v podman >/dev/null || die "podman not found: run make deps (scripts/deps.sh installs podman and buildah)"
CA=/etc/ssl/certs/ca-certificates.crt
[[ -f $CA ]] || die "$CA not found: apt-get install ca-certificates"

ctx="$(mktemp -d "${TMPDIR:-/tmp}/faultline-image.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin"
pkgs=()
for c in "${CMDS[@]}"; do pkgs+=("./cmd/$c"); done
log "go build ${CMDS[*]} (CGO_ENABLED=0)"
(cd "$ROOT" && CGO_ENABLED=0 "$GO" build -trimpath -ldflags "-s -w" -o "$ctx/bin/" "${pkgs[@]}")
cp "$CA" "$ctx/ca-certificates.crt"
# A user name for uid 65532, as distroless has, so tools that look the user up find one.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$ctx/passwd"
cp "$ROOT/deploy/image/Containerfile" "$ctx/Containerfile"

podman=(podman)
if [[ -n ${IMAGE_ROOT:-} ]]; then
	podman+=(--root "$IMAGE_ROOT" --runroot "${IMAGE_RUNROOT:?IMAGE_RUNROOT must be set with IMAGE_ROOT}")
fi
if [[ -n ${IMAGE_TMPDIR:-} ]]; then
	podman+=(--tmpdir "$IMAGE_TMPDIR")
fi
if [[ -n ${IMAGE_STORAGE_DRIVER:-} ]]; then
	podman+=(--storage-driver "$IMAGE_STORAGE_DRIVER")
fi
# No systemd here: cgroupfs and a file events log. FROM scratch has no RUN steps, so the
# build starts no container (crun fails on this kind of host; runc is only needed to run).
podman+=(--cgroup-manager cgroupfs --events-backend file)

log "${podman[*]} build -t $IMAGE"
"${podman[@]}" build --quiet --network host -t "$IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
if [[ -n ${IMAGE_ARCHIVE:-} ]]; then
	log "save $IMAGE -> $IMAGE_ARCHIVE"
	"${podman[@]}" save --format oci-archive -o "$IMAGE_ARCHIVE" "$IMAGE"
fi
echo "IMAGE=$IMAGE"
