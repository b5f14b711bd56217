/* CPU reference for the optimizer updates, in double (torch.optim.AdamW's formula; EMA). */
#ifndef VKT_NN_REF_OPTIM_REF_H
#define VKT_NN_REF_OPTIM_REF_H

#include <stddef.h>
#include <stdint.h>

/* One AdamW update of p, m, v [n] with gradient g*gscale; step counts from 1. upd (may be NULL)
 * receives |lr * m_hat / (sqrt(v_hat) + eps)| per element, the size of the Adam step. */
void vkt_ref_adamw_step(double *p, const double *g, double gscale, double *m, double *v, size_t n, double lr,
                        double beta1, double beta2, double eps, double wd, int64_t step, double *upd);
/* ema = ema - (1 - beta)*(ema - p). */
void vkt_ref_ema_update(double beta, double *ema, const double *p, size_t n);

#endif
