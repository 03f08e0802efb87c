#include <cblas.h>
// OpenBLAS extensions (thread control); declared here to avoid depending on openblas_config.h.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
