/* Number formatting that matches Python, for files the webui writes with str()/repr()/json.dump:
 * the loss CSV's learn_rate column and the settings JSON. Leaf module: libc only.
 *
 *   char b[32]; vkt_pyfmt_float(1e-05, b);   // "1e-05", as Python's repr(1e-05)
 */
#ifndef VKT_BASE_PYFMT_H
#define VKT_BASE_PYFMT_H

#include <stdbool.h>

#define VKT_PYFMT_FLOAT_MAX 32

/* Python's repr(float): the shortest digits that round-trip, fixed notation when the decimal
 * exponent is in [-4, 16) ("0.0001", "100.0"), otherwise "1e-05" / "1.5e+16"; "inf", "-inf",
 * "nan". With json, inf/nan are written as Python's json module does ("Infinity", "NaN").
 * Returns out. */
char *vkt_pyfmt_float(double v, char out[VKT_PYFMT_FLOAT_MAX]);
char *vkt_pyfmt_float_json(double v, char out[VKT_PYFMT_FLOAT_MAX]);

#endif
