#!/usr/bin/env bash
# The container test bed: make sure a Docker engine answers and that the
# systemd-ready Debian base images exist. Idempotent: a second run only checks.
#
#   scripts/testbed.sh            engine + every base image
#   scripts/testbed.sh engine     engine only
#   scripts/testbed.sh images     base images only (engine must answer)
#
# Environment:
#   TESTBED_SUITES       Debian suites to build (default: "bookworm trixie")
#   TESTBED_IMAGE_REPO   image name (default: mlops-mlflow-base)
#   TESTBED_FROM_REGISTRY=1  pull debian:<suite> from a registry instead of
#                        debootstrap (for machines that can pull images; the
#                        systemd packages are then installed in a build step)
set -euo pipefail

IMAGE_REPO="${TESTBED_IMAGE_REPO:-mlops-mlflow-base}"
SUITES="${TESTBED_SUITES:-bookworm trixie}"
WORKDIR="${TESTBED_WORKDIR:-/var/tmp/mlops-mlflow-testbed}"
DOCKERD_LOG="${TESTBED_DOCKERD_LOG:-/var/log/mlops-mlflow-dockerd.log}"
# What a fresh cloud VM has: systemd, Python 3, CA certificates, ip, sudo.
PACKAGES="systemd,systemd-sysv,python3,ca-certificates,iproute2,sudo,dbus"

log() { printf '[testbed] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

engine_answers() { docker info >/dev/null 2>&1; }

ensure_engine() {
  if engine_answers; then
    log "Docker engine answers"
    return 0
  fi
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    log "installing docker.io and debootstrap from the distribution"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      docker.io debootstrap iptables >/dev/null
  fi
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    as_root systemctl start docker
  else
    log "starting dockerd in the background (log: $DOCKERD_LOG)"
    as_root sh -c "nohup dockerd >'$DOCKERD_LOG' 2>&1 &"
  fi
  for _ in $(seq 1 60); do
    if engine_answers; then
      log "Docker engine answers"
      return 0
    fi
    sleep 1
  done
  log "the Docker engine did not answer within 60 s; last lines of $DOCKERD_LOG:"
  tail -n 20 "$DOCKERD_LOG" >&2 || true
  return 1
}

tag_for() {
  case "$1" in
    bookworm) echo debian12 ;;
    trixie) echo debian13 ;;
    *) echo "$1" ;;
  esac
}

recipe_hash() {
  # Anything that changes the image changes this hash (and so forces a rebuild).
  printf '%s\n' "$1" "$PACKAGES" "${TESTBED_FROM_REGISTRY:-0}" "recipe-v2" | sha256sum | cut -c1-16
}

image_is_current() {
  local image=$1 want=$2 have
  have=$(docker image inspect -f '{{ index .Config.Labels "org.mlops.recipe" }}' "$image" 2>/dev/null) || return 1
  [ "$have" = "$want" ]
}

remove_root() {
  # debootstrap mounts /proc and /sys inside the tree; never delete through them.
  local root=$1 mnt
  for mnt in $(awk -v r="$root/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r); do
    as_root umount -l "$mnt" || true
  done
  as_root rm -rf --one-file-system "$root"
}

build_debootstrap() {
  local suite=$1 image=$2 hash=$3 root="$WORKDIR/$suite"
  command -v debootstrap >/dev/null 2>&1 || \
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  remove_root "$root"
  as_root mkdir -p "$root"
  log "debootstrap $suite (about a minute)"
  as_root debootstrap --variant=minbase --include="$PACKAGES" "$suite" "$root" >"$WORKDIR/$suite.log" 2>&1 || {
    tail -n 20 "$WORKDIR/$suite.log" >&2
    remove_root "$root"
    return 1
  }
  # Trim what a container never needs; keep the image small.
  as_root rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  # Debian's systemd in a container: no getty on a console that does not exist.
  as_root rm -f "$root"/etc/systemd/system/getty.target.wants/* "$root"/lib/systemd/system/multi-user.target.wants/getty.target
  as_root sh -c "echo 'mlflow-testbed' > '$root/etc/hostname'"
  # As in Debian's own container images: dpkg skips its fsync calls (a
  # container's layer is thrown away, not recovered after a crash), and apt
  # fetches no translations. Package installs take a fraction of the time.
  as_root sh -c "echo force-unsafe-io > '$root/etc/dpkg/dpkg.cfg.d/docker-apt-speedup'"
  as_root sh -c "echo 'Acquire::Languages \"none\";' > '$root/etc/apt/apt.conf.d/docker-no-languages'"
  as_root tar -C "$root" -c . | docker import \
    --change 'CMD ["/lib/systemd/systemd"]' \
    --change 'ENV container=docker' \
    --change "LABEL org.mlops.recipe=$hash" \
    - "$image" >/dev/null
  remove_root "$root"
}

build_registry() {
  local suite=$1 image=$2 hash=$3 ctx
  ctx=$(mktemp -d)
  cat >"$ctx/Dockerfile" <<EOF
FROM debian:$suite
RUN echo force-unsafe-io > /etc/dpkg/dpkg.cfg.d/docker-apt-speedup \
 && echo 'Acquire::Languages "none";' > /etc/apt/apt.conf.d/docker-no-languages \
 && apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    $(echo "$PACKAGES" | tr ',' ' ') && rm -rf /var/lib/apt/lists/*
ENV container=docker
LABEL org.mlops.recipe=$hash
CMD ["/lib/systemd/systemd"]
EOF
  docker build -q -t "$image" "$ctx" >/dev/null
  rm -rf "$ctx"
}

ensure_images() {
  mkdir -p "$WORKDIR"
  local suite image hash
  for suite in $SUITES; do
    image="$IMAGE_REPO:$(tag_for "$suite")"
    hash=$(recipe_hash "$suite")
    if image_is_current "$image" "$hash"; then
      log "image $image is current (recipe $hash)"
      continue
    fi
    log "building $image (recipe $hash)"
    if [ "${TESTBED_FROM_REGISTRY:-0}" = 1 ]; then
      build_registry "$suite" "$image" "$hash"
    else
      build_debootstrap "$suite" "$image" "$hash"
    fi
    log "built $image"
  done
}

case "${1:-all}" in
  engine) ensure_engine ;;
  images) ensure_images ;;
  all) ensure_engine && ensure_images ;;
  *) echo "usage: $0 [all|engine|images]" >&2; exit 2 ;;
esac
