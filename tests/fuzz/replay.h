/* Shared corpus-replay main for the io fuzz targets (include at the end of a target that defines
 * LLVMFuzzerTestOneInput). Without VKT_LIBFUZZER it replays every file of the folders given plus
 * MUTATIONS deterministic mutations of each (byte flips, interesting values, truncation, inserted
 * bytes), so ctest (label fuzz) exercises the error paths without libFuzzer. */
#ifndef VKT_TESTS_FUZZ_REPLAY_H
#define VKT_TESTS_FUZZ_REPLAY_H

#ifndef VKT_LIBFUZZER
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/rng.h"

#ifndef MUTATIONS
#define MUTATIONS 300
#endif

static size_t replay_mutate(vkt_rng *r, const uint8_t *src, size_t n, uint8_t *dst, size_t cap)
{
    size_t m = n < cap ? n : cap;
    memcpy(dst, src, m);
    if (!m) return 0;
    int edits = 1 + (int)vkt_rng_below(r, 4);
    for (int e = 0; e < edits && m; e++) {
        size_t at = vkt_rng_below(r, m);
        switch (vkt_rng_below(r, 6)) {
        case 0: dst[at] ^= (uint8_t)(1u << vkt_rng_below(r, 8)); break;
        case 1: {
            static const uint8_t vals[] = {0, 1, 0x7f, 0x80, 0xff, '.', '(', '}'};
            dst[at] = vals[vkt_rng_below(r, sizeof vals)];
            break;
        }
        case 2: m = at + 1; break;
        case 3: {
            size_t len = 1 + vkt_rng_below(r, 16);
            if (m + len <= cap) {
                memmove(dst + at + len, dst + at, m - at);
                for (size_t k = 0; k < len; k++) dst[at + k] = (uint8_t)vkt_rng_u64(r);
                m += len;
            }
            break;
        }
        case 4: /* a 32-bit field set to a large value */
            if (at + 4 <= m) dst[at] = 0xff, dst[at + 1] = 0xff, dst[at + 2] = 0xff, dst[at + 3] = 0x7f;
            break;
        default: dst[at] = (uint8_t)vkt_rng_u64(r);
        }
    }
    return m;
}

static int replay_file(const char *path, int *runs)
{
    uint8_t *data = NULL;
    size_t n = 0;
    vkt_err err = {0};
    if (vkt_read_file(path, 16u << 20, &data, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    LLVMFuzzerTestOneInput(data, n);
    (*runs)++;
    size_t cap = n + 64;
    uint8_t *buf = malloc(cap);
    uint64_t h = 1469598103934665603ull;
    for (const char *p = path; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
    vkt_rng r = vkt_rng_keyed(h, (uint64_t)n, 0, 0);
    for (int i = 0; i < MUTATIONS; i++, (*runs)++) LLVMFuzzerTestOneInput(buf, replay_mutate(&r, data, n, buf, cap));
    free(buf);
    free(data);
    return 1;
}

int main(int argc, char **argv)
{
    int files = 0, runs = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            files += replay_file(argv[a], &runs);
            continue;
        }
        for (struct dirent *e; (e = readdir(d));) {
            if (e->d_name[0] == '.') continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
            files += replay_file(p, &runs);
        }
        closedir(d);
    }
    printf("%s: %d corpus files, %d inputs, no crash\n", argv[0], files, runs);
    return files ? 0 : 1;
}
#endif
#endif
