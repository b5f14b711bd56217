/* The TI mini-batch graph. */
#include "train/ti_step.h"

#include <string.h>

#include "nn/ops/binary.h"
#include "nn/ops/cast.h"
#include "nn/ops/loss.h"

static void phase(const vkt_ti_step_opts *o, const char *name)
{
    if (o->on_phase) o->on_phase(o->phase_user, name);
}

vkt_status vkt_ti_step_record(vkt_step *s, const vkt_clip *clip, vkt_unet *unet, const vkt_ti_step_io *io,
                              const vkt_ti_step_opts *o, vkt_ti_step_out *out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_dtype dt = vkt_unet_dtype(unet);
    vkt_clip_saved *csv = NULL;
    vkt_unet_saved *usv = NULL;
    memset(out, 0, sizeof *out);
    bool text = io->context == NULL;
    bool grad_vectors = o->backward && text && io->src_idx && o->dvectors;
    vkt_tensor ctx;
    if (text) {
        phase(o, "text fwd");
        if ((st = vkt_clip_fwd(s, clip, io->ids, io->src_idx, io->vectors, io->multipliers, o->clip_skip, &ctx,
                               grad_vectors ? &csv : NULL, err)))
            goto done;
        out->has_context = true;
    } else {
        ctx = *io->context;
    }
    out->context = ctx;
    /* x_t = a·x0 + b·ε with per-sample a, b */
    phase(o, "unet fwd");
    const vkt_tensor *x0 = io->latent;
    vkt_tensor ax, bx;
    if ((st = vkt_step_tensor(s, dt, 4, x0->shape, "a x0", &ax, err)) ||
        (st = vkt_step_tensor(s, dt, 4, x0->shape, "b eps", &bx, err)) ||
        (st = vkt_step_tensor(s, dt, 4, x0->shape, "x_noisy", &out->x_noisy, err)))
        goto done;
    if ((st = vkt_op_mul_fwd(s, x0, io->coef_a, &ax, err)) || (st = vkt_op_mul_fwd(s, io->noise, io->coef_b, &bx, err)) ||
        (st = vkt_op_add_fwd(s, &ax, &bx, &out->x_noisy, err)))
        goto done;
    if ((st = vkt_unet_fwd(unet, s, &out->x_noisy, io->timestep, &ctx, o->hook, &out->eps, o->backward ? &usv : NULL, err)))
        goto done;
    /* the loss is computed in f32 */
    phase(o, "loss");
    vkt_tensor eps32 = out->eps;
    if (dt != VKT_F32) {
        if ((st = vkt_step_tensor(s, VKT_F32, 4, x0->shape, "eps f32", &eps32, err)) ||
            (st = vkt_op_cast(s, &out->eps, &eps32, err)))
            goto done;
    }
    int64_t B = x0->shape[0];
    if ((st = vkt_step_tensor(s, VKT_F32, 1, (int64_t[]){B}, "loss per sample", &out->per_sample, err)) ||
        (st = vkt_step_tensor(s, VKT_F32, 1, (int64_t[]){1}, "loss", &out->loss, err)))
        goto done;
    if ((st = vkt_op_mse_fwd(s, &eps32, io->noise_f32, io->loss_weight, &out->per_sample, &out->loss, err))) goto done;
    if (!o->backward) goto keep;
    vkt_tensor deps32, deps;
    if ((st = vkt_step_tensor(s, VKT_F32, 4, x0->shape, "d eps", &deps32, err))) goto done;
    /* fp16: the gradients run in subnormals unless the loss is scaled (models/unet.h); the scale
     * comes off again on the f32 results below, as torch's GradScaler does */
    const float S = dt == VKT_F16 ? VKT_UNET_F16_LOSS_SCALE : 1.0f;
    if ((st = vkt_op_mse_bwd(s, &eps32, io->noise_f32, io->loss_weight, o->dloss * S, &deps32, VKT_GRAD_OVERWRITE,
                             err)))
        goto done;
    deps = deps32;
    if (dt != VKT_F32) {
        if ((st = vkt_step_tensor(s, dt, 4, x0->shape, "d eps model", &deps, err)) || (st = vkt_op_cast(s, &deps32, &deps, err)))
            goto done;
    }
    if ((st = vkt_step_tensor(s, dt, 3, ctx.shape, "d context", &out->dcontext, err))) goto done;
    phase(o, "unet bwd");
    if ((st = vkt_unet_bwd(unet, s, usv, &deps, &out->dcontext, VKT_GRAD_OVERWRITE, err))) goto done;
    out->has_dcontext = true;
    if (grad_vectors) {
        phase(o, "text bwd");
        if (S == 1.0f) {
            st = vkt_clip_bwd(s, clip, csv, &out->dcontext, o->dvectors, o->grad_mode, err);
        } else {
            vkt_tensor dv;
            st = vkt_step_tensor(s, VKT_F32, 2, o->dvectors->shape, "d vectors scaled", &dv, err);
            if (!st) st = vkt_clip_bwd(s, clip, csv, &out->dcontext, &dv, VKT_GRAD_OVERWRITE, err);
            else vkt_clip_saved_free(csv);
            if (!st && o->grad_mode == VKT_GRAD_ACCUMULATE) st = vkt_op_axpy(s, 1.0f / S, &dv, 1.0f, o->dvectors, err);
            else if (!st) st = vkt_op_scale_fwd(s, &dv, 1.0f / S, 0.0f, o->dvectors, err);
        }
        csv = NULL; /* consumed */
        if (st) goto done;
    }
    if (S != 1.0f && o->want_context_grad) { /* unscaled f32 copy for readers */
        vkt_tensor d32;
        if ((st = vkt_step_tensor(s, VKT_F32, 3, ctx.shape, "d context f32", &d32, err)) ||
            (st = vkt_op_cast(s, &out->dcontext, &d32, err)) || (st = vkt_op_scale_fwd(s, &d32, 1.0f / S, 0.0f, &d32, err)))
            goto done;
        out->dcontext = d32;
    }
keep:
    if ((st = vkt_step_keep(s, &out->loss, err)) || (st = vkt_step_keep(s, &out->per_sample, err))) goto done;
    if (o->want_context_grad || !o->backward) {
        /* eval reads everything; training only the loss */
        if ((st = vkt_step_keep(s, &out->x_noisy, err)) || (st = vkt_step_keep(s, &out->eps, err))) goto done;
        if (out->has_context && (st = vkt_step_keep(s, &out->context, err))) goto done;
        if (out->has_dcontext && (st = vkt_step_keep(s, &out->dcontext, err))) goto done;
    }
done:
    vkt_clip_saved_free(csv);
    vkt_unet_saved_destroy(usv);
    return st;
}
