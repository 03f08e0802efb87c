// See include/cpu_kernels.h: the CPU path's parallel loops run on the same OpenMP threads as
// oneDNN's GEMM (Debian's oneDNN uses GNU OpenMP). A second pool (Dispatch) beside OpenMP's would
// compete with OpenMP's threads, which spin for a while after each GEMM waiting for the next:
// on two cores that spinning took 10-25% of the samples of a bf16/int8 run.
#include "cpu_kernels.h"

// GNU OpenMP's entry points, as GCC emits them for `#pragma omp parallel` (libgomp's ABI).
extern void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
extern int omp_get_max_threads(void);
extern void omp_set_num_threads(int);

typedef struct {
    dcl_task fn;
    void *context;
    long count;
    long next;   // the next item to take, shared by the team (atomic)
} dcl_job;

static void dcl_worker(void *data) {
    dcl_job *job = data;
    for (long i; (i = __atomic_fetch_add(&job->next, 1, __ATOMIC_RELAXED)) < job->count;) job->fn(job->context, i);
}

void dcl_parallel(long count, dcl_task fn, void *context) {
    dcl_job job = {fn, context, count, 0};
    GOMP_parallel(dcl_worker, &job, 0, 0);
}

int dcl_threads(void) { return omp_get_max_threads(); }

void dcl_set_threads(int n) { omp_set_num_threads(n); }
