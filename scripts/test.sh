#!/usr/bin/env bash
# Set everything up and run the whole test suite (unit, page and real-browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "test: installing Debian's chromium for the browser test"
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) >/dev/null 2>&1 \
    || echo "test: could not install chromium; the browser test will report it" >&2
fi
if ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  # Only for the browser tests' screenshots: the pages use emoji, which need a colour-emoji font.
  apt-get install -y -qq --no-install-recommends fonts-noto-color-emoji >/dev/null 2>&1 \
    || echo "test: could not install fonts-noto-color-emoji (screenshots will show boxes for emoji)" >&2
fi
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
exec .venv/bin/python -m pytest "$@"
