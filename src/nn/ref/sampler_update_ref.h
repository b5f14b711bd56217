/* CPU reference for the sampler update (nn/ops/sampler_update.h), in double. */
#ifndef VKT_NN_REF_SAMPLER_UPDATE_REF_H
#define VKT_NN_REF_SAMPLER_UPDATE_REF_H

#include <stdint.h>

/* For i < n: e = eu + cfg (ec - eu); x[i] = a x[i] + b e + s noise[i] (noise NULL: no term);
 * xin[r n + i] = c_in x[i] for r < copies. coef = {a, b, s, c_in}. */
void vkt_ref_sampler_update_fwd(int64_t n, const double *eu, const double *ec, const double *noise,
                                const double coef[4], double cfg, int64_t copies, double *x, double *xin);

#endif
