/* Global gradient norm and clip coefficient in double. */
#include "nn/ref/clip_ref.h"

#include <math.h>

double vkt_ref_clip_norm(const double *const *g, const size_t *len, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < len[i]; j++) s += g[i][j] * g[i][j];
    return sqrt(s);
}

double vkt_ref_clip_scale(double norm, double max_norm)
{
    if (max_norm <= 0) return 1.0;
    double c = max_norm / (norm + 1e-6);
    return c < 1.0 ? c : 1.0;
}
