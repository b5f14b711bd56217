/* Test harness implementation. */
#include "testkit.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int tk_passed, tk_failed;

void tk_report(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        tk_passed++;
        return;
    }
    tk_failed++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int tk_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, tk_passed, tk_failed);
    return tk_failed || !tk_passed ? 1 : 0;
}

const char *tk_src(const char *rel)
{
    static char buf[2048];
    const char *root = getenv("VKT_SOURCE_DIR");
    snprintf(buf, sizeof buf, "%s/%s", root ? root : ".", rel);
    return buf;
}

const char *tk_tmpdir(const char *name)
{
    static char buf[2048];
    const char *root = getenv("VKT_BINARY_DIR");
    snprintf(buf, sizeof buf, "%s/test-tmp/%s", root ? root : "/tmp", name);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) fprintf(stderr, "tk_tmpdir: cannot create %s\n", buf);
    return buf;
}
