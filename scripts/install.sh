#!/usr/bin/env bash
# Install voxloop into ./.venv from the package registries alone (PyPI).
#
# The registry mirror here sends nothing pip's HTTP cache keeps, so a wheelhouse keyed by the
# hash of pyproject.toml stands in for it: the first run downloads every wheel into
# ~/.cache/voxloop/wheelhouse/<hash>/, later runs (CI on a clean clone included) install offline
# from there in seconds. Changing pyproject.toml makes a new wheelhouse.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || { echo "voxloop needs Python 3.11 (found $("$PYTHON" --version))" >&2; exit 1; }

VENV="${VOXLOOP_VENV:-.venv}"
KEY="$(sha256sum pyproject.toml | cut -c1-16)"
WHEELHOUSE="${VOXLOOP_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/voxloop/wheelhouse}/$KEY"

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip --quiet)

if [ ! -f "$WHEELHOUSE/.complete" ]; then
  echo "filling the wheelhouse $WHEELHOUSE (first install of this pyproject.toml)"
  rm -rf "$WHEELHOUSE" && mkdir -p "$WHEELHOUSE"
  "${PIP[@]}" install --upgrade pip
  "${PIP[@]}" download --dest "$WHEELHOUSE" pip "setuptools>=69" wheel
  # Every dependency (dev extras included) as a wheel, without the project itself.
  "$VENV/bin/python" - "$WHEELHOUSE" <<'PY'
import subprocess, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
reqs = project["dependencies"] + extras["dev"] + extras["ml"]
subprocess.run([sys.executable, "-m", "pip", "--quiet", "download", "--dest", sys.argv[1], *reqs], check=True)
PY
  touch "$WHEELHOUSE/.complete"
fi

OFFLINE=(--no-index --find-links "$WHEELHOUSE")
"${PIP[@]}" install "${OFFLINE[@]}" --upgrade pip "setuptools>=69" wheel
"${PIP[@]}" install "${OFFLINE[@]}" --no-build-isolation -e ".[dev,ml]"
echo "installed voxloop $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("voxloop"))') into $VENV"
