/* CPU reference for element-wise activations, in double. */
#ifndef VKT_NN_REF_ACT_REF_H
#define VKT_NN_REF_ACT_REF_H

#include <stddef.h>

#include "nn/ops/act.h"

double vkt_ref_act(vkt_act a, double param, double x);
double vkt_ref_act_grad(vkt_act a, double param, double x); /* f'(x) */
/* y[i] = f(x[i]) */
void vkt_ref_act_fwd(vkt_act a, double param, const double *x, double *y, size_t n);
/* dx[i] = dy[i] * f'(x[i]) */
void vkt_ref_act_bwd(vkt_act a, double param, const double *x, const double *dy, double *dx, size_t n);

#endif
