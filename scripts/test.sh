#!/usr/bin/env bash
# The test command: install, make sure PostgreSQL is up, run every test (unit, integration with
# the real broker and databases, end-to-end with the whole stack, deployment manifests).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install.sh

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

.venv/bin/python scripts/gen_protos.py --check
.venv/bin/ruff check shared services tests scripts
.venv/bin/mypy
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
