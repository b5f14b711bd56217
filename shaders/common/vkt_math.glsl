// Accurate float32 math for shaders whose arguments are outside the ranges where Vulkan bounds
// the built-ins (sin/cos: 2^-11 absolute inside [-pi, pi] only; log: 2^-21 absolute near 1,
// which is large relative error for log(u) with u close to 1).
#ifndef VKT_MATH_GLSL
#define VKT_MATH_GLSL

// sin(x) and cos(x) for |x| up to ~8192 with ~1e-7 absolute error: Cody-Waite reduction by
// pi/4 in three parts (the first with 8 significant bits, so j*DP1 is exact) to r in
// [-pi/4, pi/4], then the minimax polynomials of Cephes sinf/cosf (S. Moshier).
void vkt_sincos(float x, out float s, out float c)
{
    const float DP1 = 0.78515625, DP2 = 2.4187564849853515625e-4, DP3 = 3.77489497744594108e-8;
    float ax = abs(x);
    uint j = uint(ax * 1.27323954473516); // 4/pi
    j = (j + 1u) & ~1u;                  // even: the nearest multiple of pi/2 in units of pi/4
    float y = float(j);
    float r = ((ax - y * DP1) - y * DP2) - y * DP3;
    float z = r * r;
    float ps = ((-1.9515295891e-4 * z + 8.3321608736e-3) * z - 1.6666654611e-1) * z * r + r;
    float pc = ((2.443315711809948e-5 * z - 1.388731625493765e-3) * z + 4.166664568298827e-2) * z * z -
               0.5 * z + 1.0;
    uint q = (j >> 1) & 3u; // quadrant: ax = q*pi/2 + r (mod 2pi)
    float sv = q == 0u ? ps : q == 1u ? pc : q == 2u ? -ps : -pc;
    float cv = q == 0u ? pc : q == 1u ? -ps : q == 2u ? -pc : ps;
    s = x < 0.0 ? -sv : sv;
    c = cv;
}

// Natural log for x > 0 (normal floats) with a few ulp of relative error everywhere, also for
// x near 1: x = 2^e * m, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(f), f = (m-1)/(m+1),
// |f| <= 0.1716, series to f^11 (next term < 2e-10 relative).
float vkt_log(float x)
{
    int e;
    float m = frexp(x, e); // m in [0.5, 1)
    if (m < 0.70710678118654752) {
        m *= 2.0;
        e -= 1;
    }
    float f = (m - 1.0) / (m + 1.0);
    float f2 = f * f;
    float p = f2 * (1.0 / 3.0 + f2 * (1.0 / 5.0 + f2 * (1.0 / 7.0 + f2 * (1.0 / 9.0 + f2 * (1.0 / 11.0)))));
    return float(e) * 0.693147180559945309 + (2.0 * f + 2.0 * f * p);
}

#endif
