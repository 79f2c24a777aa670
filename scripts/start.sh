#!/usr/bin/env bash
# Set everything up and start the app on http://127.0.0.1:8501 with the bundled models and photos.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# Large buffers (decoded images, uploads) in their own mappings, returned to the system when freed
# (glibc otherwise raises its mmap threshold after the first free and keeps them in the heap).
export MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_:-1048576} MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_:-4194304}
exec .venv/bin/python -m streamlit run app.py --server.address "${HOST:-127.0.0.1}" \
  --server.port "${PORT:-8501}" --server.headless true --browser.gatherUsageStats false
