/* Python-compatible float formatting (CPython's float_repr_style 'short'). Depends on libc only. */
#include "base/pyfmt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Shortest decimal digits of v > 0 that round-trip: digits (no point) and the decimal-point
 * position decpt (value = 0.d1d2... x 10^decpt). */
static int shortest(double v, char *digits, int *decpt)
{
    char buf[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v || p == 17) break;
    }
    /* buf = d[.ddd]e±XX */
    int n = 0;
    const char *s = buf;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9') digits[n++] = *s;
    int e = atoi(s + 1);
    while (n > 1 && digits[n - 1] == '0')
        n--; /* %.*e may pad */
    digits[n] = 0;
    *decpt = e + 1;
    return n;
}

static char *fmt(double v, char *out, int json)
{
    if (isnan(v)) {
        strcpy(out, json ? "NaN" : "nan");
        return out;
    }
    if (isinf(v)) {
        strcpy(out, v < 0 ? (json ? "-Infinity" : "-inf") : (json ? "Infinity" : "inf"));
        return out;
    }
    char *o = out;
    if (signbit(v)) *o++ = '-';
    v = fabs(v);
    if (v == 0) {
        strcpy(o, "0.0");
        return out;
    }
    char d[24];
    int decpt, nd = shortest(v, d, &decpt);
    if (decpt <= -4 || decpt > 16) {
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        int e = decpt - 1;
        sprintf(o, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    } else if (decpt <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++)
            *o++ = '0';
        memcpy(o, d, (size_t)nd);
        o[nd] = 0;
    } else if (decpt >= nd) {
        memcpy(o, d, (size_t)nd);
        o += nd;
        for (int i = nd; i < decpt; i++)
            *o++ = '0';
        strcpy(o, ".0");
    } else {
        memcpy(o, d, (size_t)decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, d + decpt, (size_t)(nd - decpt));
        o[nd - decpt] = 0;
    }
    return out;
}

char *vkt_pyfmt_float(double v, char out[VKT_PYFMT_FLOAT_MAX])
{
    return fmt(v, out, 0);
}
char *vkt_pyfmt_float_json(double v, char out[VKT_PYFMT_FLOAT_MAX])
{
    return fmt(v, out, 1);
}
