// Shared by groupnorm.comp and layernorm.comp: workgroup sums through shared memory (no
// subgroup operations, so any subgroup size works) and the statistics of one contiguous slice.
//
// The including shader declares `x[]` (STORE_T) before including this file. The workgroup size
// (specialization constant 0) must be a power of two; the C wrappers pass 256 or 128.
#ifndef VKT_NORM_GLSL
#define VKT_NORM_GLSL

shared float norm_red0[gl_WorkGroupSize.x];
shared float norm_red1[gl_WorkGroupSize.x];

// (sum of a, sum of b) over the workgroup; every invocation gets the totals. Must be reached by
// all invocations of the workgroup (uniform control flow).
vec2 norm_wg_sum2(float a, float b)
{
    uint t = gl_LocalInvocationID.x;
    norm_red0[t] = a;
    norm_red1[t] = b;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1) {
        if (t < s) {
            norm_red0[t] += norm_red0[t + s];
            norm_red1[t] += norm_red1[t + s];
        }
        barrier();
    }
    vec2 r = vec2(norm_red0[0], norm_red1[0]);
    barrier(); // everyone has read the totals before the arrays are reused
    return r;
}

// Mean and 1/sqrt(var + eps) of x[base .. base+n), n >= 1, biased variance (divide by n), as
// torch.nn.GroupNorm / LayerNorm. Corrected two-pass algorithm (Chan, Golub & LeVeque 1983):
//   m0 = sum(x)/n;  d = x - m0;  mean = m0 + sum(d)/n;  var = (sum(d^2) - sum(d)^2/n) / n
// The second pass removes the first pass's rounding error from the mean to first order and,
// unlike E[x^2] - E[x]^2, does not cancel catastrophically when |mean| >> std.
void norm_stats(uint base, uint n, float eps, out float mean, out float rstd)
{
    uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    float s = 0.0;
    for (uint i = t; i < n; i += wg) s += LOADF(x[base + i]);
    float m0 = norm_wg_sum2(s, 0.0).x / float(n);
    float sd = 0.0, sd2 = 0.0;
    for (uint i = t; i < n; i += wg) {
        float d = LOADF(x[base + i]) - m0;
        sd += d;
        sd2 += d * d;
    }
    vec2 r = norm_wg_sum2(sd, sd2);
    mean = m0 + r.x / float(n);
    float var = max((r.y - r.x * r.x / float(n)) / float(n), 0.0);
    rstd = inversesqrt(var + eps);
}

#endif
