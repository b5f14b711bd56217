/* Minimal test harness: CHECK macros that count, and a closing line "N passed, N failed" that
 * ctest output and CI read.
 *
 *   int main(void) { TK_CHECK(1 + 1 == 2, "arith"); return tk_finish("base"); }
 */
#ifndef VKT_TESTKIT_H
#define VKT_TESTKIT_H

#include <stdio.h>

extern int tk_passed, tk_failed;

void tk_report(int ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Prints "<name>: N passed, N failed" and returns the process exit code. */
int tk_finish(const char *name);
/* Path of a file under the source tree (VKT_SOURCE_DIR), in a static buffer. */
const char *tk_src(const char *rel);
/* A fresh empty directory under the build tree for this test, in a static buffer. */
const char *tk_tmpdir(const char *name);

#define TK_CHECK(cond, ...) tk_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#endif
