/* sha256 (nettle), the webui's legacy model hash and the hashes.json cache. Expected values
 * were computed with Python's hashlib. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/file.h"
#include "io/hash.h"
#include "testkit.h"

static void write_pattern(const char *path, size_t n, int salt)
{
    uint8_t *b = malloc(n + 1);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((i * 7 + 3 + (size_t)salt) % 256);
    vkt_err err;
    vkt_write_file(path, b, n, &err);
    free(b);
}

int main(void)
{
    char h[65];
    vkt_sha256_hex("abc", 3, h);
    TK_CHECK(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256(abc)");
    vkt_sha256_hex("", 0, h);
    TK_CHECK(strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "sha256()");

    const char *dir = tk_tmpdir("hash");
    char cache[2100], path[2100], small[2100], json[2200];
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("XDG_CACHE_HOME", cache, 1);
    snprintf(json, sizeof json, "%s/vktrain/hashes.json", cache);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    snprintf(small, sizeof small, "%s/small.bin", dir);
    /* bytes (i*7+3) mod 256, 1 MiB + 64 KiB + 12345 long */
    write_pattern(path, 0x110000 + 12345, 0);
    write_pattern(small, 1000, 0);
    vkt_err err = {0};
    vkt_file_hash fh;
    TK_CHECK(vkt_hash_file(path, false, &fh, &err) == VKT_OK, "hash: %s", err.msg);
    TK_CHECK(strcmp(fh.sha256, "3c4ff0ce28bb31f731f5931ec5428b0c6f8b25f0ff470b442a4fe22729235d93") == 0, "full sha256");
    TK_CHECK(strcmp(fh.model_hash, "510b126e") == 0, "legacy model hash (64 KiB at 1 MiB): %s", fh.model_hash);
    TK_CHECK(vkt_hash_file(small, false, &fh, &err) == VKT_OK && strcmp(fh.model_hash, "e3b0c442") == 0,
             "a file under 1 MiB: sha256 of nothing, as the webui");

    /* cache: miss, then hit; a changed file (size or mtime) is hashed again */
    TK_CHECK(vkt_hash_file(path, true, &fh, &err) == VKT_OK && !fh.from_cache, "first: computed");
    struct stat sb;
    TK_CHECK(stat(json, &sb) == 0, "cache written to %s", json);
    TK_CHECK(vkt_hash_file(path, true, &fh, &err) == VKT_OK && fh.from_cache &&
                 strcmp(fh.sha256, "3c4ff0ce28bb31f731f5931ec5428b0c6f8b25f0ff470b442a4fe22729235d93") == 0,
             "second: from the cache");
    write_pattern(path, 0x110000 + 12345, 1); /* same size, new content and mtime */
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    utimensat(0, path, ts, 0);
    TK_CHECK(vkt_hash_file(path, true, &fh, &err) == VKT_OK && !fh.from_cache &&
                 strcmp(fh.sha256, "3c4ff0ce28bb31f731f5931ec5428b0c6f8b25f0ff470b442a4fe22729235d93") != 0,
             "changed file: recomputed");
    TK_CHECK(vkt_hash_file(small, true, &fh, &err) == VKT_OK && !fh.from_cache, "second file: computed");
    TK_CHECK(vkt_hash_file(path, true, &fh, &err) == VKT_OK && fh.from_cache, "both entries kept");
    /* a damaged cache is ignored and rewritten */
    vkt_write_file(json, "{not json", 9, &err);
    TK_CHECK(vkt_hash_file(small, true, &fh, &err) == VKT_OK && !fh.from_cache &&
                 strcmp(fh.model_hash, "e3b0c442") == 0,
             "damaged cache ignored");
    TK_CHECK(vkt_hash_file(small, true, &fh, &err) == VKT_OK && fh.from_cache, "and rewritten");
    snprintf(path, sizeof path, "%s/missing", dir);
    TK_CHECK(vkt_hash_file(path, true, &fh, &err) == VKT_ERR_IO && strstr(err.msg, "missing"), "missing file");
    TK_CHECK(vkt_hash_file(dir, true, &fh, &err) == VKT_ERR_IO && strstr(err.msg, "not a regular file"), "directory");
    return tk_finish("io.hash");
}
