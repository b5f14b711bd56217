/* base/rng (splitmix64 streams) and base/pyfmt (Python's float repr), the two leaf helpers the
 * training data and logs depend on. */
#include <math.h>
#include <string.h>

#include "base/pyfmt.h"
#include "base/rng.h"
#include "testkit.h"

static void test_rng(void)
{
    /* splitmix64's published sequence for seed 0. */
    vkt_rng r = vkt_rng_seeded(0);
    TK_CHECK(vkt_rng_u64(&r) == 0xE220A8397B1DCDAFull, "splitmix64(0) #1");
    TK_CHECK(vkt_rng_u64(&r) == 0x6E789E6AA1B965F4ull, "splitmix64(0) #2");
    TK_CHECK(vkt_rng_u64(&r) == 0x06C45D188009454Full, "splitmix64(0) #3");
    vkt_rng a = vkt_rng_keyed(7, 1, 2, 3), b = vkt_rng_keyed(7, 1, 2, 3),
            c = vkt_rng_keyed(7, 1, 3, 2);
    uint64_t x = vkt_rng_u64(&a);
    TK_CHECK(x == vkt_rng_u64(&b), "keyed streams repeat");
    TK_CHECK(x != vkt_rng_u64(&c), "keys are ordered");
    /* below(n): every value reached, counts within 5 sigma of uniform (binomial, n = 60000). */
    int cnt[6] = {0}, bad = 0;
    for (int i = 0; i < 60000; i++) {
        uint64_t v = vkt_rng_below(&a, 6);
        if (v < 6)
            cnt[v]++;
        else
            bad++;
    }
    for (int i = 0; i < 6; i++)
        TK_CHECK(fabs(cnt[i] - 10000.0) < 5 * 91.3, "below(6) bin %d: %d", i, cnt[i]);
    TK_CHECK(!bad && vkt_rng_below(&a, 1) == 0 && vkt_rng_below(&a, 0) == 0, "below range");
    double lo = 1, hi = 0;
    for (int i = 0; i < 10000; i++) {
        double u = vkt_rng_f64(&a);
        lo = u < lo ? u : lo, hi = u > hi ? u : hi;
    }
    TK_CHECK(lo >= 0 && lo < 0.001 && hi < 1 && hi > 0.999, "f64 in [0,1): %g..%g", lo, hi);
}

static void test_pyfmt(void)
{
    /* Expected strings are what CPython 3.11 prints for repr(v). */
    static const struct {
        double v;
        const char *repr;
    } cases[] = {
        {0.005, "0.005"},
        {1e-05, "1e-05"},
        {0.0001, "0.0001"},
        {0.001, "0.001"},
        {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},
        {0.1 + 0.2, "0.30000000000000004"},
        {100.0, "100.0"},
        {1.5e-07, "1.5e-07"},
        {-0.0, "-0.0"},
        {0.0, "0.0"},
        {123456789012345678.0, "1.2345678901234568e+17"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {(double)0.005f, "0.004999999888241291"},
        {-2.5, "-2.5"},
        {7.0, "7.0"},
        {12345.678, "12345.678"},
        {0.00012, "0.00012"},
    };
    char b[VKT_PYFMT_FLOAT_MAX];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        TK_CHECK(!strcmp(vkt_pyfmt_float(cases[i].v, b), cases[i].repr), "repr %s: got %s",
                 cases[i].repr, b);
    TK_CHECK(!strcmp(vkt_pyfmt_float(INFINITY, b), "inf"), "inf");
    TK_CHECK(!strcmp(vkt_pyfmt_float(-INFINITY, b), "-inf"), "-inf");
    TK_CHECK(!strcmp(vkt_pyfmt_float(NAN, b), "nan"), "nan");
    TK_CHECK(!strcmp(vkt_pyfmt_float_json(NAN, b), "NaN"), "json NaN");
    TK_CHECK(!strcmp(vkt_pyfmt_float_json(INFINITY, b), "Infinity"), "json Infinity");
}

int main(void)
{
    test_rng();
    test_pyfmt();
    return tk_finish("base_extra");
}
