#!/usr/bin/env bash
# Builds the photo2cad Docker image offline (as root, on Debian/Ubuntu with docker.io running).
#
# Everything the build needs is prepared here on the host, in build/docker, because neither base images
# nor package indexes may be reachable from the engine:
#   rootfs/  a debootstrap'ed bookworm (python3, python3-venv): the base image when $BASE is not present
#            locally (imported as photo2cad-base:bookworm), and where the .debs are resolved
#   debs/    libosmesa6, libgl1, libxrender1 and their dependencies missing from that base (apt-get --download-only)
#   wheels/  pip download -r requirements.txt (this host's Python 3.11, manylinux wheels)
#   src.tar  the code (pyproject.toml, app, models, render, index) as it is in this working tree
#   data/    what `photo2cad setup` fetches (catalogue, Debian packages, weights, ...); DATA_FROM=<dir>
#            copies an existing set-up data dir first (its index/ and training/ are left out)
# Each step is skipped when its output exists (delete the folder to redo it). Then `docker build`.
#
#   scripts/docker_build.sh                 # BASE=python:3.11-slim-bookworm if the engine has it
#   LB=1 scripts/docker_build.sh            # photo2cad-lb:latest, Debian's nginx (replicas)
#   DATA_FROM=data TAG=photo2cad:test scripts/docker_build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TAG=${TAG:-photo2cad:latest}
BASE=${BASE:-python:3.11-slim-bookworm}
LOCAL_BASE=photo2cad-base:bookworm
PYTHON=${PYTHON:-.venv/bin/python}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
OUT=build/docker
ROOTFS=$OUT/rootfs
mkdir -p "$OUT"  # a fresh clone has no build/: debootstrap cannot create the rootfs without its parent
APT_PACKAGES=(libosmesa6 libgl1 libxrender1)  # pyglet (imported by pyrender) needs libXrender even offscreen
export PYTHONPATH=$PWD

step() { echo "==> $(date -u +%H:%M:%S) $*"; }

make_rootfs() {
  [ -x "$ROOTFS/usr/bin/python3" ] && return
  step "debootstrap bookworm into $ROOTFS"
  rm -rf "$ROOTFS.tmp"
  debootstrap --variant=minbase --include=python3,python3-venv bookworm "$ROOTFS.tmp" "$MIRROR" >/dev/null
  mv "$ROOTFS.tmp" "$ROOTFS"
}

in_rootfs() { cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"; chroot "$ROOTFS" /bin/sh -c "$1"; }

download_debs() {  # folder, packages...
  local folder=$1; shift
  [ -n "$(ls "$OUT/$folder" 2>/dev/null)" ] && return
  step "apt-get --download-only $* (what the base lacks) into $OUT/$folder"
  in_rootfs "apt-get update -qq && apt-get clean && DEBIAN_FRONTEND=noninteractive \
    apt-get install --download-only -y -qq --no-install-recommends $*"
  mkdir -p "$OUT/$folder.tmp"
  mv "$ROOTFS"/var/cache/apt/archives/*.deb "$OUT/$folder.tmp/"
  in_rootfs "apt-get clean && rm -rf /var/lib/apt/lists/*"
  mv "$OUT/$folder.tmp" "$OUT/$folder"
}

choose_base() {
  if docker image inspect "$BASE" >/dev/null 2>&1; then return; fi
  echo "base image $BASE is not in the engine (docker pull it to use it); using $LOCAL_BASE"
  BASE=$LOCAL_BASE
  docker image inspect "$BASE" >/dev/null 2>&1 && return
  step "docker import $ROOTFS as $BASE"
  tar -C "$ROOTFS" -c . | docker import --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE"
}

download_wheels() {
  [ -f "$OUT/wheels/.complete" ] && return
  step "pip download into $OUT/wheels"
  "$PYTHON" -m pip download -q -r requirements.txt "setuptools>=68" --prefer-binary -d "$OUT/wheels"
  "$PYTHON" -m pip download -q --no-deps "PyOpenGL==3.1.10" -d "$OUT/wheels"  # see scripts/install.sh
  touch "$OUT/wheels/.complete"
}

prepare_data() {
  mkdir -p "$OUT/data"
  if [ -n "${DATA_FROM:-}" ] && [ ! -f "$OUT/data/.copied" ]; then
    step "copying $DATA_FROM (without index/, training/) into $OUT/data"
    tar -C "$DATA_FROM" --exclude=./index --exclude=./training -c . | tar -C "$OUT/data" -x
    touch "$OUT/data/.copied"
  fi
  step "photo2cad setup into $OUT/data (fetches only what is missing)"
  PHOTO2CAD_DATA_DIR="$OUT/data" "$PYTHON" -m app.cli setup
  chmod -R a+rX "$OUT/data"
}

pack_code() {
  tar -cf "$OUT/src.tar" --exclude=__pycache__ --exclude='*.pyc' pyproject.toml app models render catalogue index \
    evaluation
}

make_rootfs
download_debs debs "${APT_PACKAGES[@]}"
choose_base
if [ "${LB:-0}" = 1 ]; then  # the load balancer image of docker-compose.replicas.yml instead
  download_debs lb-debs nginx
  step "docker build -t photo2cad-lb:latest (Debian's nginx, base $BASE)"
  docker build --build-arg BASE="$BASE" -f deploy/nginx.Dockerfile -t photo2cad-lb:latest .
  exit 0
fi
download_wheels
prepare_data
pack_code
step "docker build -t $TAG (base $BASE)"
start=$(date +%s)
docker build --build-arg BASE="$BASE" -t "$TAG" .
step "built $TAG in $(( $(date +%s) - start )) s: $(docker image inspect -f '{{.Size}}' "$TAG") bytes"
