#!/usr/bin/env bash
# One prepared GPU check (bench/gpu_check.py): set up .venv, then run every GPU measurement in one
# go, within 8 minutes, writing the figures to OUT_DIR/gpu_check.{json,txt}. On a machine without
# CUDA it runs too, printing "SKIPPED (no CUDA)" for each GPU stage, and exits 0.
# Usage: bash bench/gpu_check.sh [OUT_DIR] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-${OUT:-bench/gpu_check_out}}
shift || true
scripts/setup.sh dev
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec .venv/bin/python bench/gpu_check.py --out "$OUT" "$@"
