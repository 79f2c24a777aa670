#!/usr/bin/env bash
# Create .venv (if needed) and install the pinned requirements. Idempotent and offline-safe on
# the project's machines: torch 2.14.1 / torchvision 0.29.1 come from files on disk.
# Usage: scripts/setup.sh [dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
REQ=requirements.txt
[ "${1:-}" = "dev" ] && REQ=requirements-dev.txt
STAMP=".venv/.installed-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)-${1:-app}"
if [ ! -f "$STAMP" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$REQ" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import torch, torchvision, streamlit, plotly, captum, PIL, scipy" \
    || { echo "setup: the installed packages do not import" >&2; exit 1; }
  if [ "${1:-}" = "dev" ]; then
    # torchattacks is only a test oracle; it pins an old requests, so it goes in without deps.
    .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps torchattacks==3.5.1 2>&1 | grep -v "^WARNING: Location" || true
    # The oracle tests fail on CI without it: say so here, loudly, rather than there.
    .venv/bin/python -c "import torchattacks; torchattacks.AutoAttack; torchattacks.Square" \
      || { echo "setup: torchattacks (the test oracle) did not install; the oracle tests need it" >&2; exit 1; }
  fi
  touch "$STAMP"
fi
