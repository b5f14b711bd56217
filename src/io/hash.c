/* File hashes with a JSON cache. Depends on base, nettle and cJSON. */
#define _GNU_SOURCE
#include "io/hash.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/file.h"

#define LEGACY_OFF 0x100000u
#define LEGACY_LEN 0x10000u

static void hex(const uint8_t *d, size_t n, char *out)
{
    static const char *x = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) out[2 * i] = x[d[i] >> 4], out[2 * i + 1] = x[d[i] & 15];
    out[2 * n] = 0;
}

void vkt_sha256_hex(const void *data, size_t n, char out[65])
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, n, data);
    sha256_digest(&c, sizeof d, d);
    hex(d, sizeof d, out);
}

static vkt_status compute(const char *path, vkt_file_hash *h, vkt_err *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return vkt_fail(err, VKT_ERR_IO, "%s: %s", path, strerror(errno));
    enum { CHUNK = 1 << 20 };
    uint8_t *buf = vkt_malloc(CHUNK);
    if (!buf) {
        close(fd);
        return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    }
    struct sha256_ctx all, legacy;
    sha256_init(&all);
    sha256_init(&legacy);
    uint64_t pos = 0;
    vkt_status s = VKT_OK;
    for (;;) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            s = vkt_fail(err, VKT_ERR_IO, "%s: read: %s", path, strerror(errno));
            break;
        }
        if (got == 0) break;
        sha256_update(&all, (size_t)got, buf);
        /* the part of [LEGACY_OFF, LEGACY_OFF + LEGACY_LEN) inside this chunk */
        uint64_t lo = pos > LEGACY_OFF ? pos : LEGACY_OFF, hi = pos + (uint64_t)got;
        if (hi > LEGACY_OFF + LEGACY_LEN) hi = LEGACY_OFF + LEGACY_LEN;
        if (lo < hi) sha256_update(&legacy, (size_t)(hi - lo), buf + (lo - pos));
        pos += (uint64_t)got;
    }
    close(fd);
    free(buf);
    if (s) return s;
    uint8_t d[SHA256_DIGEST_SIZE];
    char lx[65];
    sha256_digest(&all, sizeof d, d);
    hex(d, sizeof d, h->sha256);
    sha256_digest(&legacy, sizeof d, d); /* a file shorter than 1 MiB hashes nothing, as the webui */
    hex(d, sizeof d, lx);
    memcpy(h->model_hash, lx, 8);
    h->model_hash[8] = 0;
    h->from_cache = false;
    return VKT_OK;
}

static bool cache_path(char *out, size_t n)
{
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int k;
    if (x && x[0] == '/')
        k = snprintf(out, n, "%s/vktrain", x);
    else if (home && home[0])
        k = snprintf(out, n, "%s/.cache/vktrain", home);
    else
        return false;
    return k > 0 && (size_t)k < n - 16;
}

static bool is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

vkt_status vkt_hash_file(const char *path, bool use_cache, vkt_file_hash *out, vkt_err *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return vkt_fail(err, VKT_ERR_IO, "%s: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return vkt_fail(err, VKT_ERR_IO, "%s: not a regular file", path);
    if (!use_cache) return compute(path, out, err);
    char abs[PATH_MAX], dir[PATH_MAX], file[PATH_MAX + 32], size_s[32], mtime_s[48];
    if (!realpath(path, abs) || !cache_path(dir, sizeof dir)) return compute(path, out, err);
    snprintf(file, sizeof file, "%s/hashes.json", dir);
    snprintf(size_s, sizeof size_s, "%lld", (long long)sb.st_size);
    snprintf(mtime_s, sizeof mtime_s, "%lld.%09ld", (long long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
    uint8_t *text = NULL;
    size_t tn = 0;
    cJSON *root = NULL;
    if (vkt_read_file(file, 64u << 20, &text, &tn, NULL) == VKT_OK) root = cJSON_ParseWithLength((const char *)text, tn);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        root = cJSON_CreateObject();
    }
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, abs);
    const char *cs = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "size"));
    const char *cm = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "mtime"));
    const char *ch = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "sha256"));
    const char *cl = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "model_hash"));
    if (cs && cm && strcmp(cs, size_s) == 0 && strcmp(cm, mtime_s) == 0 && is_hex(ch, 64) && is_hex(cl, 8)) {
        memcpy(out->sha256, ch, 65);
        memcpy(out->model_hash, cl, 9);
        out->from_cache = true;
        cJSON_Delete(root);
        return VKT_OK;
    }
    vkt_file_hash h;
    vkt_status s = compute(path, &h, err);
    if (s) {
        cJSON_Delete(root);
        return s;
    }
    *out = h;
    /* best effort: a failure to write the cache is not an error */
    cJSON *ne = cJSON_CreateObject();
    cJSON_AddStringToObject(ne, "size", size_s);
    cJSON_AddStringToObject(ne, "mtime", mtime_s);
    cJSON_AddStringToObject(ne, "sha256", h.sha256);
    cJSON_AddStringToObject(ne, "model_hash", h.model_hash);
    if (cJSON_GetObjectItemCaseSensitive(root, abs))
        cJSON_ReplaceItemInObjectCaseSensitive(root, abs, ne);
    else
        cJSON_AddItemToObject(root, abs, ne);
    char *json = cJSON_Print(root);
    if (json && vkt_mkdirs(dir, NULL) == VKT_OK) vkt_write_file(file, json, strlen(json), NULL);
    free(json);
    cJSON_Delete(root);
    return VKT_OK;
}
