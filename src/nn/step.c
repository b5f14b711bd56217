/* Step recording context: owns the command buffer, centralises variant choice. */
#include "nn/step.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/fault.h"

vkt_status vkt_step_create(vkt_device *dev, vkt_step **out, vkt_err *err)
{
    vkt_step *s = vkt_calloc(1, sizeof *s);
    if (!s) return vkt_fail(err, VKT_ERR_NOMEM, "step");
    s->dev = dev;
    s->info = vkt_device_get_info(dev);
    vkt_status st = vkt_cmd_create(dev, &s->cmd, err);
    if (st) {
        free(s);
        return st;
    }
    /* Subgroup arithmetic variants need basic+arithmetic ops in compute shaders. */
    uint32_t need = VK_SUBGROUP_FEATURE_BASIC_BIT | VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
    s->subgroup_ok = (s->info->subgroup_ops & need) == need && vkt_feature_allowed("SUBGROUP");
    *out = s;
    return VKT_OK;
}

void vkt_step_destroy(vkt_step *s)
{
    if (!s) return;
    vkt_cmd_destroy(s->cmd);
    free(s);
}

vkt_status vkt_step_begin(vkt_step *s, vkt_err *err) { return vkt_cmd_begin(s->cmd, err); }
vkt_status vkt_step_end(vkt_step *s, vkt_err *err) { return vkt_cmd_end(s->cmd, err); }
vkt_status vkt_step_submit(vkt_step *s, vkt_err *err) { return vkt_cmd_submit(s->cmd, err); }

vkt_status vkt_step_run(vkt_step *s, vkt_err *err)
{
    vkt_status st = vkt_cmd_end(s->cmd, err);
    return st ? st : vkt_cmd_submit(s->cmd, err);
}

vkt_status vkt_step_pipeline(vkt_step *s, const char *variant, uint32_t n_bindings, uint32_t pc_bytes,
                             const uint32_t *spec, uint32_t n_spec, vkt_pipeline **out, vkt_err *err)
{
    vkt_pipeline_desc d = {variant, n_bindings, pc_bytes, spec, n_spec};
    return vkt_pipeline_get(s->dev, &d, out, err);
}

const char *vkt_variant_name(char *out, size_t n, const char *family, const char *dir, vkt_dtype dt)
{
    snprintf(out, n, "%s_%s_%s", family, dir, vkt_dtype_name(dt));
    return out;
}

vkt_status vkt_check_same_shape(const char *op, const char *what, const vkt_tensor *a, const vkt_tensor *b,
                                vkt_err *err)
{
    if (vkt_shape_eq(a, b)) return VKT_OK;
    char sa[96], sb[96];
    return vkt_fail(err, VKT_ERR_SHAPE, "%s: %s shape %s, expected %s", op, what, vkt_shape_str(a, sa, sizeof sa),
                    vkt_shape_str(b, sb, sizeof sb));
}

vkt_status vkt_check_dtype(const char *op, vkt_dtype dt, const vkt_tensor *const *ts, int n, vkt_err *err)
{
    for (int i = 0; i < n; i++)
        if (ts[i]->dtype != dt)
            return vkt_fail(err, VKT_ERR_SHAPE, "%s: tensor %d is %s, expected %s", op, i,
                            vkt_dtype_name(ts[i]->dtype), vkt_dtype_name(dt));
    return VKT_OK;
}

bool vkt_step_dtype_ok(const vkt_step *s, vkt_dtype dt)
{
    if (dt == VKT_F32 || dt == VKT_I32) return true;
    if (dt == VKT_F16) return s->info->storage16 && vkt_feature_allowed("FP16");
    return false; /* bf16 storage variants: TODO(#9) */
}
