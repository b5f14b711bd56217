/* Fuzz target for the PNG text-chunk reader and the image decoders (io/image). Each input is read
 * as is and, when it has a chunk structure, once more with every chunk CRC recomputed, so random
 * mutations get past the CRC check into the text-chunk parsers.
 *
 * Without VKT_LIBFUZZER a plain main replays every file of the corpus folder given as argument,
 * plus 300 deterministic mutations of each (ctest: label fuzz). With -DVKT_FUZZ=ON (clang) this
 * file is a libFuzzer binary:  ./build/fuzz_png -max_total_time=600 tests/fuzz/png/corpus */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "base/file.h"
#include "base/rng.h"
#include "io/image.h"
#include "io/json_util.h"

static void check(int ok)
{
    if (!ok) __builtin_trap(); /* an invariant of a successful result was broken */
}

static void run(const uint8_t *d, size_t n)
{
    vkt_err err = {0};
    vkt_png_texts t = {0};
    if (vkt_png_texts_read(d, n, "fuzz.png", &t, &err) == VKT_OK) {
        for (size_t i = 0; i < t.n; i++) {
            check(t.keys[i][0] != 0);
            check(vkt_utf8_valid((const uint8_t *)t.keys[i], strlen(t.keys[i])));
            check(vkt_utf8_valid((const uint8_t *)t.values[i], strlen(t.values[i])));
            check(vkt_png_texts_get(&t, t.keys[i]) != NULL);
        }
        vkt_png_texts_fini(&t);
    } else {
        check(err.msg[0] != 0);
    }
    /* Small limits keep hostile headers from making the fuzzer slow, not from crashing it. */
    vkt_image_limits lim = {.max_side = 2048, .max_pixels = 1u << 20};
    vkt_image img = {0};
    vkt_image_info info;
    if (vkt_image_probe_memory(d, n, "fuzz.png", &lim, &info, &err) == VKT_OK)
        check(info.w > 0 && info.h > 0 && info.w <= 2048 && info.h <= 2048);
    /* TGA has no signature: inputs nothing else claims are also tried as TGA. */
    const char *name = vkt_image_sniff(d, n, "") == VKT_IMAGE_UNKNOWN ? "fuzz.tga" : "fuzz.png";
    if (vkt_image_decode(d, n, name, &lim, &img, &err) == VKT_OK) {
        check(img.rgba && img.w > 0 && img.h > 0);
        vkt_image_fini(&img);
    } else {
        check(err.msg[0] != 0);
    }
}

/* Copy of d with every complete chunk's CRC recomputed; NULL when d is not a chunk stream. */
static uint8_t *fix_crcs(const uint8_t *d, size_t n)
{
    if (n < 8 || memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return NULL;
    uint8_t *c = malloc(n);
    if (!c) return NULL;
    memcpy(c, d, n);
    size_t off = 8;
    while (off + 12 <= n) {
        uint32_t len =
            (uint32_t)c[off] << 24 | (uint32_t)c[off + 1] << 16 | c[off + 2] << 8 | c[off + 3];
        if (len > n - off - 12) break;
        uLong crc = crc32(0, c + off + 4, 4 + len);
        uint8_t *p = c + off + 8 + len;
        p[0] = (uint8_t)(crc >> 24), p[1] = (uint8_t)(crc >> 16), p[2] = (uint8_t)(crc >> 8),
        p[3] = (uint8_t)crc;
        off += 12 + len;
    }
    return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run(data, size);
    uint8_t *fixed = fix_crcs(data, size);
    if (fixed) {
        run(fixed, size);
        free(fixed);
    }
    return 0;
}

#ifndef VKT_LIBFUZZER
/* Byte flips, overwrites with interesting values, truncation, duplication of a slice. */
static size_t mutate(vkt_rng *r, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    size_t m = n < cap ? n : cap;
    memcpy(dst, src, m);
    if (!m) return 0;
    int edits = 1 + (int)vkt_rng_below(r, 4);
    for (int e = 0; e < edits; e++) {
        size_t at = vkt_rng_below(r, m);
        switch (vkt_rng_below(r, 5)) {
        case 0:
            dst[at] ^= (uint8_t)(1u << vkt_rng_below(r, 8));
            break;
        case 1: {
            static const uint8_t vals[] = {0, 1, 0x7f, 0x80, 0xff};
            dst[at] = vals[vkt_rng_below(r, sizeof vals)];
            break;
        }
        case 2:
            m = at + 1;
            break;
        case 3: {
            size_t len = 1 + vkt_rng_below(r, 16);
            if (at + len <= m && m + len <= cap) {
                memmove(dst + at + len, dst + at, m - at);
                m += len;
            }
            break;
        }
        default:
            dst[at] = (uint8_t)vkt_rng_u64(r);
        }
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        perror(argv[1]);
        return 1;
    }
    int files = 0, runs = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        uint8_t *data = NULL;
        size_t n = 0;
        vkt_err err = {0};
        if (vkt_read_file(path, 1 << 20, &data, &n, &err)) {
            fprintf(stderr, "%s\n", err.msg);
            closedir(dir);
            return 1;
        }
        LLVMFuzzerTestOneInput(data, n);
        files++, runs++;
        size_t cap = n + 64;
        uint8_t *buf = malloc(cap);
        vkt_rng r = vkt_rng_keyed(0x706e67, (uint64_t)n, (uint64_t)de->d_name[0], 0);
        for (int i = 0; i < 300; i++, runs++)
            LLVMFuzzerTestOneInput(buf, mutate(&r, data, n, buf, cap));
        free(buf);
        free(data);
    }
    closedir(dir);
    printf("fuzz_png: %d corpus files, %d inputs, no crash\n", files, runs);
    return files ? 0 : 1;
}
#endif
