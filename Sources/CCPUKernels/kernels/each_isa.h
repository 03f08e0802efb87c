// Includes the kernel bodies DCL_BODIES names (a file in this folder) once per instruction-set
// level, with DCL_FN(name) naming each copy: name##_v4 for x86-64-v4 (AVX-512), name##_v3 for
// x86-64-v3 (AVX2 + FMA), name##_base for baseline x86-64 (the only copy elsewhere). Defines
// DCL_MULTI_ISA when the first two exist. cpu_kernels.c and training.c dispatch between them.
#if defined(__x86_64__) && defined(__clang__)
#define DCL_MULTI_ISA 1
// The x86-64-v3 and -v4 feature sets, named feature by feature: `arch=x86-64-v4` would also
// tune for 256-bit vectors, and these loops are written for 16 lanes.
#define DCL_V3_FEATURES "avx,avx2,fma,bmi,bmi2,lzcnt,movbe,f16c,popcnt,sse4.2"
#define DCL_FN(name) name##_v4
#pragma clang attribute push(__attribute__((target(DCL_V3_FEATURES ",avx512f,avx512bw,avx512vl,avx512dq,avx512cd"))), \
                             apply_to = function)
#include DCL_BODIES
#pragma clang attribute pop
#undef DCL_FN
#define DCL_FN(name) name##_v3
#pragma clang attribute push(__attribute__((target(DCL_V3_FEATURES))), apply_to = function)
#include DCL_BODIES
#pragma clang attribute pop
#undef DCL_FN
#endif
#define DCL_FN(name) name##_base
#include DCL_BODIES
#undef DCL_FN
