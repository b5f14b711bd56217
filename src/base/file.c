/* Whole-file I/O and temp-then-rename writes. Depends on libc/POSIX only. */
#define _POSIX_C_SOURCE 200809L
#include "base/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fault.h"

vkt_status vkt_atomic_open(vkt_atomic_file *f, const char *path, vkt_err *err)
{
    f->fp = NULL;
    if (strlen(path) >= sizeof f->path)
        return vkt_fail(err, VKT_ERR_USAGE, "%s: path too long", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp", path);
    f->fp = fopen(f->tmp_path, "wb");
    if (!f->fp) return vkt_fail(err, VKT_ERR_IO, "%s: %s", f->tmp_path, strerror(errno));
    return VKT_OK;
}

vkt_status vkt_atomic_commit(vkt_atomic_file *f, vkt_err *err)
{
    if (!f->fp) return vkt_fail(err, VKT_ERR_INTERNAL, "%s: not open", f->path);
    int bad = ferror(f->fp) || fflush(f->fp) != 0 || fsync(fileno(f->fp)) != 0;
    int saved = errno;
    bad |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (bad) {
        remove(f->tmp_path);
        return vkt_fail(err, VKT_ERR_IO, "%s: write failed: %s", f->tmp_path, strerror(saved));
    }
    if (rename(f->tmp_path, f->path) != 0) {
        saved = errno;
        remove(f->tmp_path);
        return vkt_fail(err, VKT_ERR_IO, "%s: rename failed: %s", f->path, strerror(saved));
    }
    return VKT_OK;
}

void vkt_atomic_abort(vkt_atomic_file *f)
{
    if (!f->fp) return;
    fclose(f->fp);
    f->fp = NULL;
    remove(f->tmp_path);
}

vkt_status vkt_write_file(const char *path, const void *data, size_t n, vkt_err *err)
{
    vkt_atomic_file f;
    vkt_status st = vkt_atomic_open(&f, path, err);
    if (st) return st;
    if (n && fwrite(data, 1, n, f.fp) != n) {
        vkt_atomic_abort(&f);
        return vkt_fail(err, VKT_ERR_IO, "%s: write failed", path);
    }
    return vkt_atomic_commit(&f, err);
}

vkt_status vkt_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *out_n, vkt_err *err)
{
    vkt_status st = VKT_OK;
    uint8_t *buf = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return vkt_fail(err, VKT_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = vkt_fail(err, VKT_ERR_IO, "%s: not a regular file", path);
        goto done;
    }
    if ((uint64_t)sb.st_size > max_bytes) {
        st = vkt_fail(err, VKT_ERR_FORMAT, "%s: %lld bytes, more than the limit of %zu", path,
                      (long long)sb.st_size, max_bytes);
        goto done;
    }
    size_t n = (size_t)sb.st_size;
    buf = vkt_malloc(n + 1);
    if (!buf) { st = vkt_fail(err, VKT_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, n + 1); goto done; }
    if (fread(buf, 1, n, fp) != n) { st = vkt_fail(err, VKT_ERR_IO, "%s: short read", path); goto done; }
    buf[n] = 0;
    *out = buf;
    *out_n = n;
    buf = NULL;
done:
    free(buf);
    fclose(fp);
    return st;
}

vkt_status vkt_mmap_open(const char *path, vkt_mmap *m, vkt_err *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vkt_fail(err, VKT_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return vkt_fail(err, VKT_ERR_IO, "%s: not a regular file", path);
    }
    m->size = (size_t)sb.st_size;
    m->data = NULL;
    if (m->size) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return vkt_fail(err, VKT_ERR_IO, "%s: mmap: %s", path, strerror(e));
        }
        m->data = p;
    }
    close(fd);
    return VKT_OK;
}

void vkt_mmap_close(vkt_mmap *m)
{
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

vkt_status vkt_mkdirs(const char *path, vkt_err *err)
{
    char buf[1024];
    if (strlen(path) >= sizeof buf) return vkt_fail(err, VKT_ERR_USAGE, "%s: path too long", path);
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return vkt_fail(err, VKT_ERR_IO, "%s: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    return VKT_OK;
}
