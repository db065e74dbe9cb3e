#!/usr/bin/env bash
# Vendors three.js for the demo page (no build step, no CDN): fetches the npm tarball with `npm pack`
# and copies the ES modules the page imports into app/static/vendor/three/, with the licence.
# Usage: scripts/vendor_js.sh [version]   (default: the pinned one below)
set -euo pipefail
cd "$(dirname "$0")/.."
version=${1:-0.187.0}
dest=app/static/vendor/three
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "three@$version" >/dev/null && tar xzf "three-$version.tgz")
src=$work/package
rm -rf "$dest"
mkdir -p "$dest/build" "$dest/addons/loaders" "$dest/addons/controls" "$dest/addons/utils"
# three.module.js imports ./three.core.js; the addons import 'three' (resolved by the import map)
# and each other by relative path, so the folder layout mirrors the package's.
cp "$src/build/three.module.js" "$src/build/three.core.js" "$dest/build/"
cp "$src/examples/jsm/loaders/GLTFLoader.js" "$dest/addons/loaders/"
cp "$src/examples/jsm/controls/OrbitControls.js" "$dest/addons/controls/"
cp "$src/examples/jsm/utils/BufferGeometryUtils.js" "$src/examples/jsm/utils/SkeletonUtils.js" "$dest/addons/utils/"
cp "$src/LICENSE" "$dest/LICENSE"
echo "three@$version" > "$dest/VERSION"
echo "==> vendored three@$version into $dest ($(du -sh "$dest" | cut -f1))"
