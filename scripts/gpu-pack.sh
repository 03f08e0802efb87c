#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a machine with no Swift: a static release build and
# the shared libraries it links (oneDNN and GNU OpenMP for the CPU path, the ocl-icd loader; no
# OpenBLAS: `bench kernels` loads it at run time where present), xz-compressed
# into .dist/ (distilcl.xz, libs.tar.xz).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --static-swift-stdlib --scratch-path .build-static
mkdir -p .dist
cp .build-static/release/distilcl .dist/distilcl
strip .dist/distilcl 2>/dev/null || true
xz -T2 -6 -f .dist/distilcl          # 60 MB → 15 MB: the device call carries 64 MiB at most
libs=()
for l in libdnnl.so.2 libgomp.so.1 libOpenCL.so.1; do
  p=$(ldconfig -p | awk -v l="$l" '$1 == l && /x86-64/ {print $NF; exit}')
  [ -n "$p" ] || { echo "gpu-pack: $l not found" >&2; exit 1; }
  libs+=("$(readlink -f "$p"):$l")
done
tmp=$(mktemp -d)
for entry in "${libs[@]}"; do cp "${entry%%:*}" "$tmp/${entry##*:}"; done
tar -cJf .dist/libs.tar.xz -C "$tmp" .
rm -rf "$tmp"
ls -la .dist
