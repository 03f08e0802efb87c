#include <cblas.h>
// OpenBLAS extensions (thread control, the core its dispatch chose); declared here to avoid depending on openblas_config.h.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
