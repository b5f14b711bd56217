/* base/: errors, checked math, arena, atomic files, allocation fault hook. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/arena.h"
#include "base/checked.h"
#include "base/err.h"
#include "base/fault.h"
#include "base/file.h"
#include "testkit.h"

static void test_err(void)
{
    vkt_err e = {0};
    TK_CHECK(vkt_fail(&e, VKT_ERR_IO, "%s: %d", "a.bin", 7) == VKT_ERR_IO, "fail returns code");
    TK_CHECK(strcmp(e.msg, "a.bin: 7") == 0, "message: %s", e.msg);
    vkt_err_prefix(&e, "loading %s", "UNet");
    TK_CHECK(strcmp(e.msg, "loading UNet: a.bin: 7") == 0, "prefix: %s", e.msg);
    TK_CHECK(strcmp(vkt_status_str(VKT_ERR_OOM_DEVICE), "out of device memory") == 0, "status phrase");
    TK_CHECK(vkt_fail(NULL, VKT_ERR_IO, "x") == VKT_ERR_IO, "NULL err allowed");
}

static void test_checked(void)
{
    size_t r = 5;
    TK_CHECK(vkt_mul_ok(3, 4, &r) && r == 12, "mul");
    TK_CHECK(!vkt_mul_ok(SIZE_MAX / 2 + 1, 2, &r) && r == 12, "mul overflow leaves out untouched");
    TK_CHECK(!vkt_add_ok(SIZE_MAX, 1, &r), "add overflow");
    TK_CHECK(vkt_range_ok(0, 10, 10) && !vkt_range_ok(1, 10, 10) && !vkt_range_ok(11, 0, 10), "range");
    TK_CHECK(vkt_range_ok(10, 0, 10) && !vkt_range_ok(5, SIZE_MAX, 10), "range edge");
    uint8_t b[8];
    vkt_wr_le64(b, 0x0102030405060708ull);
    TK_CHECK(b[0] == 8 && vkt_rd_le64(b) == 0x0102030405060708ull && vkt_rd_le32(b) == 0x05060708u &&
             vkt_rd_le16(b) == 0x0708, "little endian");
}

static void test_arena(void)
{
    vkt_arena a;
    vkt_arena_init(&a, 64);
    char *p = vkt_arena_alloc(&a, 10), *q = vkt_arena_alloc(&a, 100), *s = vkt_arena_strdup(&a, "hello");
    TK_CHECK(p && q && s && ((uintptr_t)p % 16) == 0 && ((uintptr_t)q % 16) == 0, "aligned allocations");
    TK_CHECK(strcmp(s, "hello") == 0 && q[99] == 0, "strdup and zeroed");
    TK_CHECK(vkt_arena_alloc(&a, SIZE_MAX - 4) == NULL, "huge request fails");
    vkt_arena_reset(&a);
    TK_CHECK(vkt_arena_alloc(&a, 8) != NULL, "alloc after reset");
    vkt_arena_fini(&a);
}

static void test_files(void)
{
    const char *dir = tk_tmpdir("base");
    char path[2100], tmp[2200];
    snprintf(path, sizeof path, "%s/sub/x.bin", dir);
    char sub[2100];
    snprintf(sub, sizeof sub, "%s/sub", dir);
    vkt_err e = {0};
    TK_CHECK(vkt_mkdirs(sub, &e) == VKT_OK && vkt_mkdirs(sub, &e) == VKT_OK, "mkdirs twice: %s", e.msg);
    TK_CHECK(vkt_write_file(path, "abc", 3, &e) == VKT_OK, "write: %s", e.msg);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct stat sb;
    TK_CHECK(stat(tmp, &sb) != 0, "no temp file left behind");
    uint8_t *data = NULL;
    size_t n = 0;
    TK_CHECK(vkt_read_file(path, 100, &data, &n, &e) == VKT_OK && n == 3 && memcmp(data, "abc", 4) == 0, "read back");
    free(data);
    TK_CHECK(vkt_read_file(path, 2, &data, &n, &e) == VKT_ERR_FORMAT, "size limit enforced");
    /* An aborted write leaves the old file intact. */
    vkt_atomic_file f;
    TK_CHECK(vkt_atomic_open(&f, path, &e) == VKT_OK, "open");
    fputs("partial", f.fp);
    vkt_atomic_abort(&f);
    TK_CHECK(vkt_read_file(path, 100, &data, &n, &e) == VKT_OK && n == 3, "old content kept after abort");
    free(data);
    TK_CHECK(stat(tmp, &sb) != 0, "abort removes temp");
    vkt_mmap m;
    TK_CHECK(vkt_mmap_open(path, &m, &e) == VKT_OK && m.size == 3 && m.data[2] == 'c', "mmap");
    vkt_mmap_close(&m);
    TK_CHECK(vkt_read_file("/nonexistent/x", 10, &data, &n, &e) == VKT_ERR_IO && strstr(e.msg, "/nonexistent/x"),
             "missing file names the path: %s", e.msg);
}

static void test_fault(void)
{
    setenv("VKTRAIN_FAIL_ALLOC", "2", 1);
    vkt_fault_reset();
    void *a = vkt_malloc(4), *b = vkt_malloc(4), *c = vkt_malloc(4);
    TK_CHECK(a && !b && c, "second allocation fails");
    free(a);
    free(c);
    unsetenv("VKTRAIN_FAIL_ALLOC");
    vkt_fault_reset();
}

int main(void)
{
    test_err();
    test_checked();
    test_arena();
    test_files();
    test_fault();
    return tk_finish("base");
}
