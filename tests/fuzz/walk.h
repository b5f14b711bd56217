/* Bounded walk over an unpickled tree for the fuzz targets: touches every reachable node through
 * the public accessors (at most `budget` visits, since memo sharing can make a DAG exponential)
 * and checks every tensor lies inside [lo, hi). */
#ifndef VKT_TESTS_FUZZ_WALK_H
#define VKT_TESTS_FUZZ_WALK_H

#include <stdint.h>
#include <string.h>

#include "io/pickle.h"

static void walk_check(int ok)
{
    if (!ok) __builtin_trap();
}

static void walk(const vkt_py *o, int depth, long *budget, const uint8_t *lo, const uint8_t *hi)
{
    if (!o || --*budget < 0 || depth > 200) return;
    const vkt_tensor_data *t = vkt_py_tensor(o);
    if (t) {
        walk_check(t->ndim >= 0 && t->ndim <= VKT_IO_MAX_DIMS);
        if (t->bytes) walk_check(t->data >= lo && t->data < hi && t->bytes <= (size_t)(hi - t->data));
        size_t numel = vkt_tensor_data_numel(t);
        if (numel && numel < 64) { /* read every element through the strides */
            double s = 0;
            for (size_t i = 0; i < numel; i++) s += vkt_tensor_data_get(t, i);
            (void)s;
        }
    }
    int64_t iv;
    double fv;
    (void)vkt_py_int(o, &iv);
    (void)vkt_py_float(o, &fv);
    const char *s = vkt_py_str(o);
    if (s) {
        walk_check(strlen(s) == o->str.n);
        (void)vkt_py_get(o, s);
    }
    (void)vkt_py_class(o);
    for (size_t i = 0; i < vkt_py_len(o) && *budget > 0; i++) {
        if (o->kind == VKT_PY_DICT) {
            const vkt_py *k = vkt_py_key(o, i);
            walk(k, depth + 1, budget, lo, hi);
            walk(vkt_py_value(o, i), depth + 1, budget, lo, hi);
            if (vkt_py_str(k)) walk_check(vkt_py_get(o, vkt_py_str(k)) != NULL);
            if (k && k->kind == VKT_PY_INT) walk_check(vkt_py_get_int(o, k->i) != NULL);
        } else {
            walk(vkt_py_item(o, i), depth + 1, budget, lo, hi);
        }
    }
    if (o->kind == VKT_PY_OBJECT) walk(vkt_py_object_state(o), depth + 1, budget, lo, hi);
    if (o->kind == VKT_PY_DICT && o->dict.attrs) walk(o->dict.attrs, depth + 1, budget, lo, hi);
}

#endif
