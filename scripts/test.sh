#!/usr/bin/env bash
# One command from a fresh clone to the test results: installs everything (with test tools) and runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh --dev
exec .venv/bin/python -m pytest "$@"
