/* TensorBoard event files (src/io/tfevents.c): CRC-32C, then files written by the library parsed
 * back here frame by frame (both CRCs, every protobuf field) and, with --python, by the
 * stdlib-only tests/reference/read_tfevents.py run with plain `python3` (exit 77 without one). */
#define _GNU_SOURCE
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "base/fault.h"
#include "base/file.h"
#include "io/image.h"
#include "io/tfevents.h"
#include "testkit.h"

/* ---- what the writer test writes (one table for the C parser and the Python check) ---- */

typedef struct expect_value {
    const char *tag;
    int64_t step;
    bool is_image;
    float simple_value;          /* scalars: the float32 the file must hold */
    int width, height, channels; /* images */
    const uint8_t *px;           /* images: [h][w][channels] */
} expect_value;

#define IMG_A_W 5
#define IMG_A_H 3
#define IMG_B_W 4
#define IMG_B_H 2
static uint8_t img_a[IMG_A_H * IMG_A_W * 3];
static uint8_t img_b[IMG_B_H * IMG_B_W * 4];
static uint8_t img_c[7 * 1];

enum { N_EXPECT = 12 };
static expect_value expect[N_EXPECT];

/* Writes the table's events through the public API; returns the file path (malloc'd) or NULL. */
static char *write_sample(const char *dir)
{
    for (size_t i = 0; i < sizeof img_a; i++)
        img_a[i] = (uint8_t)(i * 37 + 11);
    for (size_t i = 0; i < sizeof img_b; i++)
        img_b[i] = (uint8_t)(255 - i * 13);
    for (size_t i = 0; i < sizeof img_c; i++)
        img_c[i] = (uint8_t)(i * 40);
    const double loss = 0.123456789, lr = 0.005;
    int k = 0;
    /* webui tensorboard_add(loss, global_step=12, step=3, learn_rate, epoch_num=2) */
    expect[k++] = (expect_value){"Loss/train", 12, false, (float)loss};
    expect[k++] = (expect_value){"Loss/train/epoch-2", 3, false, (float)loss};
    expect[k++] = (expect_value){"Learn rate/train", 12, false, (float)lr};
    expect[k++] = (expect_value){"Learn rate/train/epoch-2", 3, false, (float)lr};
    /* step 0 (proto3 leaves the field out), a negative and a > 32-bit step, odd values */
    expect[k++] = (expect_value){"zero step", 0, false, -1.5f};
    expect[k++] = (expect_value){"negative step", -7, false, 3.0e-38f};
    expect[k++] = (expect_value){"big step/\xc3\xa9t\xc3\xa9", (int64_t)1 << 40, false, 65504.0f};
    expect[k++] = (expect_value){"Validation at epoch 2", 13, true, 0, IMG_A_W, IMG_A_H, 3, img_a};
    expect[k++] = (expect_value){"rgba", 14, true, 0, IMG_B_W, IMG_B_H, 4, img_b};
    expect[k++] = (expect_value){"grey column", 15, true, 0, 1, 7, 1, img_c};
    expect[k++] = (expect_value){"Loss/train", 100, false, 0.0f};
    expect[k++] = (expect_value){"inf", 101, false, INFINITY};

    vkt_err err = {0};
    vkt_tfevents *w = NULL;
    char *path = NULL;
    if (vkt_tfevents_create(dir, &w, &err)) {
        TK_CHECK(0, "create %s: %s", dir, err.msg);
        return NULL;
    }
    vkt_status st = vkt_tfevents_add_training(w, loss, 12, 3, lr, 2, &err);
    for (int i = 4; i < N_EXPECT && !st; i++) {
        const expect_value *e = &expect[i];
        if (i == 7)
            st = vkt_tfevents_add_validation_image(w, 2, e->px, e->width, e->height, e->channels,
                                                   e->step, &err);
        else if (e->is_image)
            st = vkt_tfevents_add_image(w, e->tag, e->px, e->width, e->height, e->channels, e->step,
                                        &err);
        else
            st = vkt_tfevents_add_scalar(w, e->tag, e->simple_value, e->step, &err);
    }
    TK_CHECK(st == VKT_OK, "writing events: %s", err.msg);
    path = strdup(vkt_tfevents_path(w));
    vkt_tfevents_destroy(w);
    return path;
}

/* ---- a tiny protobuf reader for the checks ---- */

typedef struct pb {
    const uint8_t *p, *end;
    bool bad;
} pb;

static uint64_t pb_varint(pb *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) break;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = true;
    return 0;
}

/* Next field: returns false at the end. Length-delimited: *sub; fixed: *fixed (LE). */
static bool pb_next(pb *r, unsigned *field, unsigned *wire, uint64_t *v, pb *sub)
{
    if (r->bad || r->p >= r->end) return false;
    uint64_t key = pb_varint(r);
    *field = (unsigned)(key >> 3);
    *wire = (unsigned)(key & 7);
    *v = 0;
    if (*wire == 0) {
        *v = pb_varint(r);
    } else if (*wire == 1 || *wire == 5) {
        size_t n = *wire == 1 ? 8 : 4;
        if ((size_t)(r->end - r->p) < n) {
            r->bad = true;
            return false;
        }
        for (size_t i = 0; i < n; i++)
            *v |= (uint64_t)r->p[i] << (8 * i);
        r->p += n;
    } else if (*wire == 2) {
        uint64_t n = pb_varint(r);
        if (n > (uint64_t)(r->end - r->p)) {
            r->bad = true;
            return false;
        }
        *sub = (pb){r->p, r->p + n, false};
        r->p += n;
    } else {
        r->bad = true;
        return false;
    }
    return !r->bad;
}

static uint32_t rd32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

typedef struct parsed_value {
    char tag[128];
    bool has_simple, has_image;
    float simple_value;
    int64_t height, width, colorspace;
    const uint8_t *png;
    size_t png_n;
} parsed_value;

typedef struct parsed_event {
    double wall_time;
    int64_t step;
    bool has_step;
    char file_version[32];
    int n_values;
    parsed_value value;
} parsed_event;

static bool parse_event(pb r, parsed_event *e)
{
    memset(e, 0, sizeof *e);
    unsigned f, wt;
    uint64_t v;
    pb sub, s2, s3;
    while (pb_next(&r, &f, &wt, &v, &sub)) {
        if (f == 1 && wt == 1)
            memcpy(&e->wall_time, &v, 8);
        else if (f == 2 && wt == 0)
            e->step = (int64_t)v, e->has_step = true;
        else if (f == 3 && wt == 2)
            snprintf(e->file_version, sizeof e->file_version, "%.*s", (int)(sub.end - sub.p),
                     sub.p);
        else if (f == 5 && wt == 2) {
            while (pb_next(&sub, &f, &wt, &v, &s2)) {
                if (f != 1 || wt != 2) return false;
                e->n_values++;
                parsed_value *pv = &e->value;
                while (pb_next(&s2, &f, &wt, &v, &s3)) {
                    if (f == 1 && wt == 2)
                        snprintf(pv->tag, sizeof pv->tag, "%.*s", (int)(s3.end - s3.p), s3.p);
                    else if (f == 2 && wt == 5) {
                        uint32_t u = (uint32_t)v;
                        memcpy(&pv->simple_value, &u, 4);
                        pv->has_simple = true;
                    } else if (f == 4 && wt == 2) {
                        pv->has_image = true;
                        pb s4;
                        while (pb_next(&s3, &f, &wt, &v, &s4)) {
                            if (f == 1 && wt == 0)
                                pv->height = (int64_t)v;
                            else if (f == 2 && wt == 0)
                                pv->width = (int64_t)v;
                            else if (f == 3 && wt == 0)
                                pv->colorspace = (int64_t)v;
                            else if (f == 4 && wt == 2)
                                pv->png = s4.p, pv->png_n = (size_t)(s4.end - s4.p);
                            else
                                return false;
                        }
                        if (s3.bad) return false;
                    } else {
                        return false;
                    }
                }
                if (s2.bad) return false;
            }
            if (sub.bad) return false;
        } else {
            return false;
        }
    }
    return !r.bad;
}

/* The single events.out.tfevents.* file in dir (malloc'd path), or NULL. */
static char *find_event_file(const char *dir, int *n_found)
{
    DIR *d = opendir(dir);
    char *path = NULL;
    *n_found = 0;
    if (!d) return NULL;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, "events.out.tfevents.", 20)) continue;
        (*n_found)++;
        free(path);
        if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) path = NULL;
    }
    closedir(d);
    return path;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Pixels [h][w][channels] vs an RGBA decode (grey expands to RGB, no alpha means 255). */
static bool pixels_match(const expect_value *e, const uint8_t *png, size_t png_n)
{
    vkt_image img;
    vkt_err err = {0};
    if (vkt_image_decode(png, png_n, "event png", NULL, &img, &err)) return false;
    bool ok = img.w == e->width && img.h == e->height;
    for (int i = 0; ok && i < e->width * e->height; i++) {
        const uint8_t *s = e->px + (size_t)i * e->channels, *d = img.rgba + (size_t)i * 4;
        uint8_t want[4];
        switch (e->channels) {
        case 1:
            want[0] = want[1] = want[2] = s[0], want[3] = 255;
            break;
        case 2:
            want[0] = want[1] = want[2] = s[0], want[3] = s[1];
            break;
        case 3:
            memcpy(want, s, 3), want[3] = 255;
            break;
        default:
            memcpy(want, s, 4);
            break;
        }
        ok = !memcmp(want, d, 4);
    }
    vkt_image_fini(&img);
    return ok;
}

/* ---- cases ---- */

static uint32_t crc32c_bitwise(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    }
    return ~c;
}

static void test_crc(void)
{
    TK_CHECK(vkt_tfevents_crc32c("123456789", 9) == 0xE3069283u, "crc32c check value: %08x",
             vkt_tfevents_crc32c("123456789", 9));
    TK_CHECK(vkt_tfevents_crc32c("", 0) == 0, "crc32c of nothing");
    /* RFC 3720 (iSCSI) B.4 vectors: 32 zero bytes, 32 0xff bytes, bytes 0..31 */
    uint8_t b[32];
    memset(b, 0, 32);
    TK_CHECK(vkt_tfevents_crc32c(b, 32) == 0x8A9136AAu, "crc32c 32 zeros");
    memset(b, 0xff, 32);
    TK_CHECK(vkt_tfevents_crc32c(b, 32) == 0x62A8AB43u, "crc32c 32 x 0xff");
    for (int i = 0; i < 32; i++)
        b[i] = (uint8_t)i;
    TK_CHECK(vkt_tfevents_crc32c(b, 32) == 0x46DD794Eu, "crc32c 0..31");
    /* the table against the bit-at-a-time definition, every length 0..300 of a pseudo-random run */
    uint8_t buf[300];
    uint32_t x = 12345;
    for (int i = 0; i < 300; i++)
        x = x * 1664525u + 1013904223u, buf[i] = (uint8_t)(x >> 24);
    int bad = 0;
    for (size_t n = 0; n <= 300; n++)
        bad += vkt_tfevents_crc32c(buf, n) != crc32c_bitwise(buf, n);
    TK_CHECK(bad == 0, "crc32c table vs bitwise: %d lengths differ", bad);
    /* masked: ((0xE3069283 >> 15) | (0xE3069283 << 17)) + 0xa282ead8 mod 2^32 */
    TK_CHECK(vkt_tfevents_masked_crc("123456789", 9) == 0xC78AB0E5u, "masked crc: %08x",
             vkt_tfevents_masked_crc("123456789", 9));
}

/* tensorboard_logger tests/test_tensorboard_logger.py test_serialization (dummy_time=256.5):
 * the file_version record, then 'v/1' = 1.5 at step 1 and 'v/22' = 16.0 at step 2. */
static const char fv[] = "\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7fK\"\t\x00\x00\x00\x00\x00\x08p@"
                         "\x1a\rbrain.Event:2\xbc\x98!+";
static const char v1[] = "\x19\x00\x00\x00\x00\x00\x00\x00\x8b\xf1\x08(\t\x00\x00\x00\x00\x00\x08p@"
                         "\x10\x01*\x0c\n\n\n\x03v/1\x15\x00\x00\xc0?,\xec\xc0\x87";
static const char v22[] =
    "\x1a\x00\x00\x00\x00\x00\x00\x00\x12\x9b\xd8-\t\x00\x00\x00\x00\x00\x08p@"
    "\x10\x02*\r\n\x0b\n\x04v/22\x15\x00\x00\x80"
    "A\x8f\xa3\xb6\x88";

/* Whole records against bytes written by TensorFlow's own protobuf/TFRecord code, as committed in
 * other projects' tests. */
static void check_record(const char *what, double wall_time, int64_t step, const char *tag,
                         double value, const char *want, size_t want_n)
{
    uint8_t *got = NULL;
    size_t n = 0;
    vkt_err err = {0};
    vkt_status st = vkt_tfevents_encode_record(wall_time, step, tag, value, &got, &n, &err);
    TK_CHECK(st == VKT_OK && n == want_n && !memcmp(got, want, n), "%s: %zu bytes vs %zu", what, n,
             want_n);
    free(got);
}

static void test_golden_records(void)
{
    check_record("file_version @256.5", 256.5, 0, NULL, 0, fv, sizeof fv - 1);
    check_record("v/1", 256.5, 1, "v/1", 1.5, v1, sizeof v1 - 1);
    check_record("v/22", 256.5, 2, "v/22", 16.0, v22, sizeof v22 - 1);
    /* tensorboard event_file_loader_test.py MOCK_RECORDS[1]: a file_version record at a real
     * wall time (the double 0x41d5b3e627000000) */
    static const char tf[] = "\x18\x00\x00\x00\x00\x00\x00\x00\xa3\x7fK\"\t\x00\x00\x00\'\xe6"
                             "\xb3\xd5"
                             "A\x1a\rbrain.Event:2jM\x0b\x15";
    uint64_t bits = 0x41d5b3e627000000ull;
    double wt;
    memcpy(&wt, &bits, 8);
    check_record("file_version (TensorBoard test)", wt, 0, NULL, 0, tf, sizeof tf - 1);
}

static void test_write_parse(void)
{
    char dir[2100];
    snprintf(dir, sizeof dir, "%s/run/tensorboard", tk_tmpdir("tfevents"));
    double t0 = now();
    char *written = write_sample(dir);
    double t1 = now();
    if (!written) return;
    int n_files;
    char *path = find_event_file(dir, &n_files);
    TK_CHECK(n_files == 1 && path && !strcmp(path, written), "one event file: %d, %s vs %s",
             n_files, path ? path : "-", written);
    /* name: events.out.tfevents.<10 digits>.<hostname> */
    char host[256] = "";
    gethostname(host, sizeof host);
    const char *base = strrchr(written, '/') + 1;
    bool digits = strlen(base) > 31;
    for (int i = 20; digits && i < 30; i++)
        digits = base[i] >= '0' && base[i] <= '9';
    TK_CHECK(digits && base[30] == '.' && !strcmp(base + 31, host), "file name %s (host %s)", base,
             host);
    long long secs = atoll(base + 20);
    TK_CHECK(secs >= (long long)t0 - 1 && secs <= (long long)t1 + 1, "file name time %lld", secs);

    uint8_t *data = NULL;
    size_t n = 0;
    vkt_err err = {0};
    TK_CHECK(vkt_read_file(written, (size_t)1 << 24, &data, &n, &err) == VKT_OK, "read: %s",
             err.msg);
    size_t pos = 0;
    int k = -1; /* -1: the file_version event */
    while (data && pos < n) {
        if (n - pos < 16) {
            TK_CHECK(0, "offset %zu: short record", pos);
            break;
        }
        uint64_t len = 0;
        for (int i = 0; i < 8; i++)
            len |= (uint64_t)data[pos + i] << (8 * i);
        TK_CHECK(rd32(data + pos + 8) == vkt_tfevents_masked_crc(data + pos, 8),
                 "record %d: length crc", k);
        if (len > n - pos - 16) {
            TK_CHECK(0, "record %d: length %llu past end", k, (unsigned long long)len);
            break;
        }
        const uint8_t *body = data + pos + 12;
        TK_CHECK(rd32(body + len) == vkt_tfevents_masked_crc(body, len), "record %d: data crc", k);
        TK_CHECK(crc32c_bitwise(body, len) == vkt_tfevents_crc32c(body, len), "record %d: crc", k);
        parsed_event e;
        bool ok = parse_event((pb){body, body + len, false}, &e);
        TK_CHECK(ok, "record %d: protobuf", k);
        TK_CHECK(e.wall_time >= t0 - 1 && e.wall_time <= t1 + 1, "record %d: wall_time %.3f", k,
                 e.wall_time);
        if (k < 0) {
            TK_CHECK(!strcmp(e.file_version, "brain.Event:2") && !e.has_step && !e.n_values,
                     "file_version event: '%s'", e.file_version);
        } else if (k < N_EXPECT) {
            const expect_value *x = &expect[k];
            const parsed_value *v = &e.value;
            TK_CHECK(e.n_values == 1 && !strcmp(v->tag, x->tag), "record %d: tag '%s' vs '%s'", k,
                     v->tag, x->tag);
            TK_CHECK(e.step == x->step && e.has_step == (x->step != 0),
                     "record %d: step %lld vs %lld", k, (long long)e.step, (long long)x->step);
            if (!x->is_image) {
                TK_CHECK(v->has_simple && !v->has_image &&
                             !memcmp(&v->simple_value, &x->simple_value, 4),
                         "record %d: value %.9g vs %.9g", k, v->simple_value, x->simple_value);
            } else {
                TK_CHECK(v->has_image && !v->has_simple && v->width == x->width &&
                             v->height == x->height && v->colorspace == x->channels,
                         "record %d: image %lldx%lld cs %lld", k, (long long)v->width,
                         (long long)v->height, (long long)v->colorspace);
                TK_CHECK(v->png && pixels_match(x, v->png, v->png_n), "record %d: pixels", k);
            }
        }
        k++;
        pos += 16 + len;
    }
    TK_CHECK(pos == n && k == N_EXPECT, "%d events of %d, %zu of %zu bytes", k, N_EXPECT, pos, n);
    free(data);
    free(path);
    free(written);
}

static const cJSON *jget(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

/* read_tfevents.py run with plain python3 on path: its JSON, or NULL when it fails. */
static cJSON *run_reader(const char *path)
{
    char *cmd = NULL;
    if (asprintf(&cmd, "env -u LD_PRELOAD python3 '%s' '%s'",
                 tk_src("tests/reference/read_tfevents.py"), path) < 0)
        return NULL;
    FILE *p = popen(cmd, "r");
    char *out = NULL;
    size_t out_n = 0, cap = 0;
    if (p) {
        char chunk[4096];
        size_t got;
        while ((got = fread(chunk, 1, sizeof chunk, p)) > 0) {
            if (out_n + got + 1 > cap) {
                cap = (out_n + got + 1) * 2;
                char *o = realloc(out, cap);
                if (!o) break;
                out = o;
            }
            memcpy(out + out_n, chunk, got);
            out_n += got;
        }
        if (out) out[out_n] = 0;
    }
    int rc = p ? pclose(p) : -1;
    cJSON *j = rc == 0 && out ? cJSON_Parse(out) : NULL;
    if (!j) fprintf(stderr, "%s: exit status %d, %s\n", cmd, rc, out ? "output" : "no output");
    free(out);
    free(cmd);
    return j;
}

/* Runs read_tfevents.py with plain python3 on a freshly written file. Returns 77 (skip) when
 * there is no python3 on PATH. */
static int test_python(void)
{
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        printf("SKIP: no python3 on PATH\n");
        return 77;
    }
    char dir[2100];
    snprintf(dir, sizeof dir, "%s", tk_tmpdir("tfevents_py"));
    double t0 = now();
    char *path = write_sample(dir);
    double t1 = now();
    if (!path) return tk_finish("tfevents python");
    cJSON *j = run_reader(path);
    TK_CHECK(j != NULL, "reader output is JSON");
    const cJSON *events = j ? jget(j, "events") : NULL;
    TK_CHECK(cJSON_GetArraySize(events) == N_EXPECT + 1, "%d events", cJSON_GetArraySize(events));
    for (int k = -1; events && k < N_EXPECT && k + 1 < cJSON_GetArraySize(events); k++) {
        const cJSON *e = cJSON_GetArrayItem(events, k + 1);
        double wt = cJSON_GetNumberValue(jget(e, "wall_time"));
        TK_CHECK(wt >= t0 - 1 && wt <= t1 + 1, "event %d: wall_time %.3f", k, wt);
        double step = cJSON_GetNumberValue(jget(e, "step"));
        if (k < 0) {
            TK_CHECK(step == 0 && !strcmp(cJSON_GetStringValue(jget(e, "file_version")) ?: "",
                                          "brain.Event:2"),
                     "file_version event");
            continue;
        }
        const expect_value *x = &expect[k];
        /* steps up to 2^40 are exact in a double */
        TK_CHECK(step == (double)x->step, "event %d: step %.17g vs %lld", k, step,
                 (long long)x->step);
        const cJSON *vals = jget(e, "values");
        const cJSON *v = cJSON_GetArrayItem(vals, 0);
        TK_CHECK(cJSON_GetArraySize(vals) == 1 &&
                     !strcmp(cJSON_GetStringValue(jget(v, "tag")) ?: "", x->tag),
                 "event %d: tag", k);
        if (!x->is_image) {
            const cJSON *sv = jget(v, "simple_value");
            /* Python prints the float32 widened to double with repr (shortest round trip), so
             * the comparison is exact; the reader writes non-finite values as strings. */
            if (isinf(x->simple_value)) {
                TK_CHECK(!strcmp(cJSON_GetStringValue(sv) ?: "", "inf"), "event %d: inf", k);
                continue;
            }
            TK_CHECK(cJSON_IsNumber(sv) && cJSON_GetNumberValue(sv) == (double)x->simple_value,
                     "event %d: value %.17g vs %.17g", k, cJSON_GetNumberValue(sv),
                     (double)x->simple_value);
        } else {
            const cJSON *im = jget(v, "image");
            uLong crc = crc32(0L, x->px, (uInt)(x->width * x->height * x->channels));
            TK_CHECK(cJSON_GetNumberValue(jget(im, "width")) == x->width &&
                         cJSON_GetNumberValue(jget(im, "height")) == x->height &&
                         cJSON_GetNumberValue(jget(im, "colorspace")) == x->channels &&
                         cJSON_GetNumberValue(jget(im, "png_width")) == x->width &&
                         cJSON_GetNumberValue(jget(im, "png_height")) == x->height &&
                         cJSON_GetNumberValue(jget(im, "png_channels")) == x->channels,
                     "event %d: image header", k);
            TK_CHECK(cJSON_GetNumberValue(jget(im, "pixels_crc32")) == (double)crc,
                     "event %d: pixels crc32 %.0f vs %lu", k,
                     cJSON_GetNumberValue(jget(im, "pixels_crc32")), (unsigned long)crc);
        }
    }
    cJSON_Delete(j);
    free(path);

    /* the reader itself, on TensorFlow-written bytes */
    char golden[2200];
    snprintf(golden, sizeof golden, "%s/golden.tfevents", dir);
    FILE *f = fopen(golden, "wb");
    if (f) {
        fwrite(fv, 1, sizeof fv - 1, f);
        fwrite(v1, 1, sizeof v1 - 1, f);
        fwrite(v22, 1, sizeof v22 - 1, f);
        fclose(f);
    }
    j = run_reader(golden);
    events = j ? jget(j, "events") : NULL;
    const cJSON *e0 = cJSON_GetArrayItem(events, 0), *e1 = cJSON_GetArrayItem(events, 1),
                *e2 = cJSON_GetArrayItem(events, 2);
    const cJSON *x1 = cJSON_GetArrayItem(jget(e1, "values"), 0),
                *x2 = cJSON_GetArrayItem(jget(e2, "values"), 0);
    TK_CHECK(cJSON_GetArraySize(events) == 3 &&
                 !strcmp(cJSON_GetStringValue(jget(e0, "file_version")) ?: "", "brain.Event:2") &&
                 cJSON_GetNumberValue(jget(e0, "wall_time")) == 256.5 &&
                 cJSON_GetNumberValue(jget(e1, "step")) == 1 &&
                 !strcmp(cJSON_GetStringValue(jget(x1, "tag")) ?: "", "v/1") &&
                 cJSON_GetNumberValue(jget(x1, "simple_value")) == 1.5 &&
                 cJSON_GetNumberValue(jget(e2, "step")) == 2 &&
                 !strcmp(cJSON_GetStringValue(jget(x2, "tag")) ?: "", "v/22") &&
                 cJSON_GetNumberValue(jget(x2, "simple_value")) == 16.0,
             "reader on TensorFlow-written records");
    cJSON_Delete(j);
    /* and rejects a flipped byte (data CRC) */
    f = fopen(golden, "r+b");
    if (f) {
        fseek(f, 30, SEEK_SET);
        fputc('X', f);
        fclose(f);
    }
    j = run_reader(golden);
    TK_CHECK(j == NULL, "reader rejects a corrupted record");
    cJSON_Delete(j);
    return tk_finish("tfevents python");
}

static void test_errors(void)
{
    char base[2100], dir[2200];
    snprintf(base, sizeof base, "%s", tk_tmpdir("tfevents_bad"));
    vkt_err err = {0};
    vkt_tfevents *w = NULL;

    /* a directory below a regular file cannot be made (even by root) */
    snprintf(dir, sizeof dir, "%s/plainfile", base);
    FILE *f = fopen(dir, "w");
    if (f) fclose(f);
    snprintf(dir, sizeof dir, "%s/plainfile/tensorboard", base);
    vkt_status st = vkt_tfevents_create(dir, &w, &err);
    TK_CHECK(st == VKT_ERR_IO && !w && strstr(err.msg, "/plainfile"), "under a file: %d %s", st,
             err.msg);
    st = vkt_tfevents_create("", &w, &err);
    TK_CHECK(st == VKT_ERR_USAGE && !w, "empty dir: %s", err.msg);

    /* two writers in one directory (likely in the same second) get different files */
    snprintf(dir, sizeof dir, "%s/two", base);
    vkt_tfevents *w2 = NULL;
    TK_CHECK(vkt_tfevents_create(dir, &w, &err) == VKT_OK, "first writer: %s", err.msg);
    TK_CHECK(vkt_tfevents_create(dir, &w2, &err) == VKT_OK, "second writer: %s", err.msg);
    if (w && w2)
        TK_CHECK(strcmp(vkt_tfevents_path(w), vkt_tfevents_path(w2)) != 0, "distinct files %s",
                 vkt_tfevents_path(w2));
    vkt_tfevents_destroy(w2);
    if (!w) return;

    /* bad arguments */
    uint8_t px[12] = {0};
    TK_CHECK(vkt_tfevents_add_scalar(w, "", 1, 1, &err) == VKT_ERR_USAGE, "empty tag");
    TK_CHECK(vkt_tfevents_add_scalar(w, "bad \xff utf8", 1, 1, &err) == VKT_ERR_USAGE, "bad tag");
    TK_CHECK(vkt_tfevents_add_image(w, "x", px, 2, 2, 5, 1, &err) == VKT_ERR_USAGE &&
                 strstr(err.msg, vkt_tfevents_path(w)),
             "5 channels: %s", err.msg);
    TK_CHECK(vkt_tfevents_add_image(w, "x", px, 0, 2, 3, 1, &err) == VKT_ERR_USAGE, "width 0");
    TK_CHECK(vkt_tfevents_add_image(w, "x", NULL, 2, 2, 3, 1, &err) == VKT_ERR_USAGE, "no px");

    /* a write that fails (file size limit): error names the file; the writer then refuses more,
     * so the file never holds a record after a partial one */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    long sz = 0;
    FILE *probe = fopen(vkt_tfevents_path(w), "rb");
    if (probe) fseek(probe, 0, SEEK_END), sz = ftell(probe), fclose(probe);
    lim = old;
    lim.rlim_cur = (rlim_t)sz + 10;
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        st = vkt_tfevents_add_scalar(w, "Loss/train", 0.5, 1, &err);
        TK_CHECK(st == VKT_ERR_IO && strstr(err.msg, vkt_tfevents_path(w)), "write fails: %d %s",
                 st, err.msg);
        setrlimit(RLIMIT_FSIZE, &old);
        st = vkt_tfevents_add_scalar(w, "Loss/train", 0.5, 2, &err);
        TK_CHECK(st == VKT_ERR_IO && strstr(err.msg, "earlier write error"), "then refused: %s",
                 err.msg);
    } else {
        TK_CHECK(0, "setrlimit failed");
    }
    signal(SIGXFSZ, SIG_DFL);
    vkt_tfevents_destroy(w);
}

/* Every host allocation failing in turn: NOMEM (or success once past the last), nothing leaked
 * (ASan/LSan in CI). */
static void test_alloc_faults(void)
{
    char dir[2100];
    snprintf(dir, sizeof dir, "%s", tk_tmpdir("tfevents_faults"));
    uint8_t px[6 * 5 * 3];
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)(i * 7);
    int n, bad = 0;
    for (n = 1; n < 1000; n++) {
        char env[32];
        snprintf(env, sizeof env, "%d", n);
        setenv("VKTRAIN_FAIL_ALLOC", env, 1);
        vkt_fault_reset();
        vkt_err err = {0};
        vkt_tfevents *w = NULL;
        vkt_status st = vkt_tfevents_create(dir, &w, &err);
        if (!st) st = vkt_tfevents_add_training(w, 0.25, 5, 1, 1e-3, 0, &err);
        if (!st) st = vkt_tfevents_add_validation_image(w, 0, px, 6, 5, 3, 5, &err);
        vkt_tfevents_destroy(w);
        if (st == VKT_OK) break;
        if (st != VKT_ERR_NOMEM && !bad++)
            fprintf(stderr, "allocation %d failing gave %d: %s\n", n, st, err.msg);
    }
    unsetenv("VKTRAIN_FAIL_ALLOC");
    vkt_fault_reset();
    TK_CHECK(n > 1 && n < 1000 && bad == 0, "alloc faults: %d swept, %d non-NOMEM", n - 1, bad);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--python")) return test_python();
    test_crc();
    test_golden_records();
    test_write_parse();
    test_errors();
    test_alloc_faults();
    return tk_finish("tfevents");
}
