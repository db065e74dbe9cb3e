#!/usr/bin/env bash
# Creates tools/infinigen/.venv: Blender as a Python module (bpy 4.2.0) and Infinigen 1.15.5, for
# generate.py only. Kept apart from the service's .venv (Infinigen pins old numpy and trimesh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3.11}"
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Infinigen 1.15.5 needs Python 3.11"'
[ -x "$here/.venv/bin/python" ] || "$python" -m venv "$here/.venv"
"$here/.venv/bin/pip" install --quiet -r "$here/requirements.txt"
# Its declared pins (scikit-image < 0.20) have no Python 3.11 wheel: dependencies come from requirements.txt.
"$here/.venv/bin/pip" install --quiet --no-deps infinigen==1.15.5
"$here/.venv/bin/python" -c 'import bpy, infinigen; print("bpy", bpy.app.version_string, "infinigen", infinigen.__version__)'
