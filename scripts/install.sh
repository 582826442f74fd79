#!/usr/bin/env bash
# Install voxloop into ./.venv from the package registries alone (PyPI).
# Re-runs are cheap: pip's cache (~/.cache/pip) keeps every downloaded wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || { echo "voxloop needs Python 3.11 (found $("$PYTHON" --version))" >&2; exit 1; }

VENV="${VOXLOOP_VENV:-.venv}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[dev]"
echo "installed voxloop $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("voxloop"))') into $VENV"
