#!/usr/bin/env bash
# Run the teaching and numerical tests under the CPU code paths torch can be forced to, and with 1
# and 2 threads, so that a lesson that holds only on this machine's fastest kernels shows up here
# rather than on the next person's machine. Prints one line per variant and the failures.
#
#   bash scripts/cross_code_paths.sh                 # the default test selection
#   bash scripts/cross_code_paths.sh tests/teaching  # or any pytest arguments
#
# Knobs (all documented by their libraries): ATEN_CPU_CAPABILITY (torch's own kernels:
# default = no vector extensions, avx2, avx512), ONEDNN_MAX_CPU_ISA (oneDNN's convolutions: SSE41,
# AVX2, AVX512_CORE...), MKL_ENABLE_INSTRUCTIONS (MKL's BLAS: SSE4_2, AVX2, AVX512) and
# OMP_NUM_THREADS. torch.backends.cpu.get_cpu_capability() is printed to show the first took effect.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev >/dev/null
SEL=("$@")
[ ${#SEL[@]} -gt 0 ] || SEL=(tests/teaching tests/attacks tests/defenses tests/explain tests/evaluation/test_stats.py
                             tests/evaluation/test_curves.py tests/evaluation/test_ensemble.py -m "not browser")
OUT=${CROSS_OUT:-/tmp/cross_code_paths}
mkdir -p "$OUT"
variants=(
  "native-2t|OMP_NUM_THREADS=2"
  "native-1t|OMP_NUM_THREADS=1"
  "avx2-2t|OMP_NUM_THREADS=2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2"
  "baseline-1t|OMP_NUM_THREADS=1 ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2"
  "baseline-2t|OMP_NUM_THREADS=2 ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_ENABLE_INSTRUCTIONS=SSE4_2"
)
status=0
for v in "${variants[@]}"; do
  name=${v%%|*}; envs=${v#*|}
  cap=$(env $envs .venv/bin/python -c "import torch; print(torch.backends.cpu.get_cpu_capability())")
  start=$(date +%s)
  env $envs OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest -q -p no:cacheprovider -rf "${SEL[@]}" \
      > "$OUT/$name.log" 2>&1
  rc=$?
  [ "$rc" = "0" ] || status=1
  echo "$name (torch kernels: $cap; $envs): rc=$rc, $(tail -n 1 "$OUT/$name.log"), $(( $(date +%s) - start )) s"
  grep "^FAILED" "$OUT/$name.log" | sed 's/^/    /'
done
echo "logs: $OUT"
exit $status
