/* f32 <-> f16 storage conversion (shaders/cast.comp), e.g. an fp16 model's output into the f32
 * loss and the loss gradient back. The backward of a cast is the cast the other way.
 *
 *   vkt_op_cast(s, &eps_f16, &eps_f32, &err);
 */
#ifndef VKT_NN_OPS_CAST_H
#define VKT_NN_OPS_CAST_H

#include "nn/step.h"

/* y = x converted to y's dtype (f32 -> f16 rounds to nearest; f16 -> f32 is exact; equal dtypes
 * copy). Same shapes; y must not overlap x. */
vkt_status vkt_op_cast(vkt_step *s, const vkt_tensor *x, vkt_tensor *y, vkt_err *err);

#endif
