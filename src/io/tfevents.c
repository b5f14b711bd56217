/* TensorBoard event-file writer: TFRecord frames around hand-encoded tensorflow.Event protobufs.
 * Knows nothing of Vulkan; uses base and io/image (PNG) only. Formats: tensorflow
 * core/util/event.proto, summary.proto; framing: tensorflow/core/lib/io/record_writer.cc. */
#define _POSIX_C_SOURCE 200809L
#include "io/tfevents.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/file.h"
#include "io/image.h"
#include "io/json_util.h"

struct vkt_tfevents {
    FILE *fp;
    char *path;  /* owned */
    bool broken; /* a write failed: the file may end in a partial record, so write no more */
};

/* crc32c_table[i] = CRC-32C register after shifting in byte i (reflected poly 0x82F63B78). */
static const uint32_t crc32c_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c, 0x26a1e7e8, 0xd4ca64eb,
    0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b, 0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24,
    0x105ec76f, 0xe235446c, 0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc, 0xbc267848, 0x4e4dfb4b,
    0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a, 0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35,
    0xaa64d611, 0x580f5512, 0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad, 0x1642ae59, 0xe4292d5a,
    0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a, 0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595,
    0x417b1dbc, 0xb3109ebf, 0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f, 0xed03a29b, 0x1f682198,
    0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927, 0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38,
    0xdbfc821c, 0x2997011f, 0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e, 0x4767748a, 0xb50cf789,
    0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859, 0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46,
    0x7198540d, 0x83f3d70e, 0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de, 0xdde0eb2a, 0x2f8b6829,
    0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c, 0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93,
    0x082f63b7, 0xfa44e0b4, 0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b, 0xb4091bff, 0x466298fc,
    0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c, 0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033,
    0xa24bb5a6, 0x502036a5, 0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975, 0x0e330a81, 0xfc588982,
    0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d, 0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622,
    0x38cc2a06, 0xcaa7a905, 0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8, 0xe52cc12c, 0x1747422f,
    0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff, 0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0,
    0xd3d3e1ab, 0x21b862a8, 0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78, 0x7fab5e8c, 0x8dc0dd8f,
    0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee, 0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1,
    0x69e9f0d5, 0x9b8273d6, 0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69, 0xd5cf889d, 0x27a40b9e,
    0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e, 0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

uint32_t vkt_tfevents_crc32c(const void *data, size_t n)
{
    const uint8_t *p = data;
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc32c_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

uint32_t vkt_tfevents_masked_crc(const void *data, size_t n)
{
    uint32_t c = vkt_tfevents_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- protobuf encoding (wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32) ---- */

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(vkt_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    vkt_buf_append(b, tmp, n);
}

static void put_le(vkt_buf *b, uint64_t v, int bytes)
{
    uint8_t tmp[8];
    for (int i = 0; i < bytes; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    vkt_buf_append(b, tmp, (size_t)bytes);
}

static void put_key(vkt_buf *b, unsigned field, unsigned wire)
{
    put_varint(b, (field << 3) | wire);
}

/* Size of a length-delimited field with a one-byte key and a payload of n bytes. */
static size_t ld_len(size_t n)
{
    return 1 + varint_len(n) + n;
}

static void put_ld(vkt_buf *b, unsigned field, const void *p, size_t n)
{
    put_key(b, field, 2);
    put_varint(b, n);
    vkt_buf_append(b, p, n);
}

/* What one Summary.Value holds: a scalar, or an image already encoded as PNG. */
typedef struct value_spec {
    const char *tag;
    bool is_image;
    float simple_value;
    int height, width, colorspace;
    const uint8_t *png;
    size_t png_n;
} value_spec;

/* Appends the TFRecord of Event{wall_time, step, summary{value}} (summary == NULL: the
 * file_version event) to b:
 *   uint64 length, uint32 masked_crc(length), data, uint32 masked_crc(data), all little-endian. */
static void encode_event(vkt_buf *b, double wall_time, int64_t step, const char *file_version,
                         const value_spec *v)
{
    size_t image_len = 0, value_len = 0, summary_len = 0, event_len = 9; /* wall_time: key + 8 */
    if (step != 0) event_len += 1 + varint_len((uint64_t)step);          /* proto3 leaves 0 out */
    if (v) {
        if (v->is_image) {
            image_len = 1 + varint_len((uint64_t)v->height) + 1 + varint_len((uint64_t)v->width) +
                        1 + varint_len((uint64_t)v->colorspace) + ld_len(v->png_n);
            value_len = ld_len(strlen(v->tag)) + ld_len(image_len);
        } else {
            value_len = ld_len(strlen(v->tag)) + 5;
        }
        summary_len = ld_len(value_len);
        event_len += ld_len(summary_len);
    } else {
        event_len += ld_len(strlen(file_version));
    }

    size_t start = b->len;
    put_le(b, event_len, 8);
    if (b->failed) return;
    put_le(b, vkt_tfevents_masked_crc(b->data + start, 8), 4);

    size_t data = b->len;
    uint64_t wt;
    memcpy(&wt, &wall_time, 8);
    put_key(b, 1, 1); /* Event.wall_time: double */
    put_le(b, wt, 8);
    if (step != 0) {
        put_key(b, 2, 0); /* Event.step: int64 (negative: 10-byte two's complement) */
        put_varint(b, (uint64_t)step);
    }
    if (!v) {
        put_ld(b, 3, file_version, strlen(file_version)); /* Event.file_version */
    } else {
        put_key(b, 5, 2); /* Event.summary */
        put_varint(b, summary_len);
        put_key(b, 1, 2); /* Summary.value (one) */
        put_varint(b, value_len);
        put_ld(b, 1, v->tag, strlen(v->tag)); /* Value.tag */
        if (v->is_image) {
            put_key(b, 4, 2); /* Value.image */
            put_varint(b, image_len);
            put_key(b, 1, 0); /* Image.height */
            put_varint(b, (uint64_t)v->height);
            put_key(b, 2, 0); /* Image.width */
            put_varint(b, (uint64_t)v->width);
            put_key(b, 3, 0); /* Image.colorspace: 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA */
            put_varint(b, (uint64_t)v->colorspace);
            put_ld(b, 4, v->png, v->png_n); /* Image.encoded_image_string */
        } else {
            uint32_t f;
            memcpy(&f, &v->simple_value, 4);
            put_key(b, 2, 5); /* Value.simple_value: float */
            put_le(b, f, 4);
        }
    }
    if (b->failed) return;
    if (b->len - data != event_len) { /* the sizes above and the writes disagree: a bug */
        b->failed = true;
        return;
    }
    put_le(b, vkt_tfevents_masked_crc(b->data + data, event_len), 4);
}

static double wall_time_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (double)time(NULL);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static vkt_status write_event(vkt_tfevents *w, int64_t step, const char *file_version,
                              const value_spec *v, vkt_err *err)
{
    vkt_buf b = {0};
    vkt_status st = VKT_OK;
    if (w->broken)
        return vkt_fail(err, VKT_ERR_IO, "%s: not written to after an earlier write error",
                        w->path);
    encode_event(&b, wall_time_now(), step, file_version, v);
    if (b.failed) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory encoding an event", w->path);
        goto done;
    }
    if (fwrite(b.data, 1, b.len, w->fp) != b.len || fflush(w->fp) != 0) {
        st = vkt_fail(err, VKT_ERR_IO, "%s: %s", w->path, strerror(errno));
        w->broken = true;
        goto done;
    }
done:
    vkt_buf_free(&b);
    return st;
}

/* where: the file name for messages. */
static vkt_status check_tag(const char *where, const char *tag, vkt_err *err)
{
    if (!tag || !*tag) return vkt_fail(err, VKT_ERR_USAGE, "%s: empty TensorBoard tag", where);
    if (!vkt_utf8_valid((const uint8_t *)tag, strlen(tag)))
        return vkt_fail(err, VKT_ERR_USAGE, "%s: TensorBoard tag is not UTF-8", where);
    return VKT_OK;
}

vkt_status vkt_tfevents_encode_record(double wall_time, int64_t step, const char *tag, double value,
                                      uint8_t **out, size_t *out_n, vkt_err *err)
{
    vkt_buf b = {0};
    if (tag) {
        vkt_status st = check_tag("event record", tag, err);
        if (st) return st;
        value_spec v = {.tag = tag, .simple_value = (float)value};
        encode_event(&b, wall_time, step, NULL, &v);
    } else {
        encode_event(&b, wall_time, 0, "brain.Event:2", NULL);
    }
    if (b.failed) {
        vkt_buf_free(&b);
        return vkt_fail(err, VKT_ERR_NOMEM, "event record: out of memory");
    }
    *out = b.data;
    *out_n = b.len;
    return VKT_OK;
}

vkt_status vkt_tfevents_create(const char *dir, vkt_tfevents **out, vkt_err *err)
{
    vkt_status st = VKT_OK;
    vkt_tfevents *w = NULL;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host) != 0 || !host[0]) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = 0;
    for (char *p = host; *p; p++)
        if (*p == '/') *p = '_';

    if (!dir || !*dir) {
        st = vkt_fail(err, VKT_ERR_USAGE, "TensorBoard directory: empty path");
        goto done;
    }
    st = vkt_mkdirs(dir, err);
    if (st) goto done;
    w = vkt_calloc(1, sizeof *w);
    size_t cap = strlen(dir) + strlen(host) + 64;
    if (w) w->path = vkt_malloc(cap);
    if (!w || !w->path) {
        st = vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", dir);
        goto done;
    }
    long long secs = (long long)time(NULL);
    /* "x": never append to (or truncate) another writer's file started in the same second. */
    for (int i = 0; i < 100 && !w->fp; i++) {
        if (i == 0)
            snprintf(w->path, cap, "%s/events.out.tfevents.%010lld.%s", dir, secs, host);
        else
            snprintf(w->path, cap, "%s/events.out.tfevents.%010lld.%s.%d", dir, secs, host, i);
        w->fp = fopen(w->path, "wbx");
        if (!w->fp && errno != EEXIST) break;
    }
    if (!w->fp) {
        st = vkt_fail(err, VKT_ERR_IO, "%s: %s", w->path, strerror(errno));
        goto done;
    }
    st = write_event(w, 0, "brain.Event:2", NULL, err);
    if (st) goto done;
    *out = w;
    w = NULL;
done:
    vkt_tfevents_destroy(w);
    return st;
}

void vkt_tfevents_destroy(vkt_tfevents *w)
{
    if (!w) return;
    if (w->fp) fclose(w->fp);
    free(w->path);
    free(w);
}

const char *vkt_tfevents_path(const vkt_tfevents *w)
{
    return w->path;
}

vkt_status vkt_tfevents_add_scalar(vkt_tfevents *w, const char *tag, double value, int64_t step,
                                   vkt_err *err)
{
    vkt_status st = check_tag(w->path, tag, err);
    if (st) return st;
    value_spec v = {.tag = tag, .simple_value = (float)value};
    return write_event(w, step, NULL, &v, err);
}

vkt_status vkt_tfevents_add_image(vkt_tfevents *w, const char *tag, const uint8_t *px, int width,
                                  int height, int channels, int64_t step, vkt_err *err)
{
    vkt_status st = check_tag(w->path, tag, err);
    if (st) return st;
    if (!px || width <= 0 || height <= 0 || channels < 1 || channels > 4)
        return vkt_fail(err, VKT_ERR_USAGE, "%s: image \"%s\": bad size %dx%dx%d", w->path, tag,
                        width, height, channels);
    uint8_t *png = NULL;
    size_t png_n = 0;
    st = vkt_image_png_encode(px, width, height, channels, NULL, 0, &png, &png_n, err);
    if (st) {
        vkt_err_prefix(err, "%s: image \"%s\"", w->path, tag);
        return st;
    }
    value_spec v = {.tag = tag,
                    .is_image = true,
                    .height = height,
                    .width = width,
                    .colorspace = channels,
                    .png = png,
                    .png_n = png_n};
    st = write_event(w, step, NULL, &v, err);
    free(png);
    return st;
}

vkt_status vkt_tfevents_add_training(vkt_tfevents *w, double loss, int64_t global_step,
                                     int64_t step, double learn_rate, int64_t epoch, vkt_err *err)
{
    /* webui textual_inversion.py tensorboard_add() */
    char tag[64];
    vkt_status st = vkt_tfevents_add_scalar(w, "Loss/train", loss, global_step, err);
    if (st) return st;
    snprintf(tag, sizeof tag, "Loss/train/epoch-%lld", (long long)epoch);
    st = vkt_tfevents_add_scalar(w, tag, loss, step, err);
    if (st) return st;
    st = vkt_tfevents_add_scalar(w, "Learn rate/train", learn_rate, global_step, err);
    if (st) return st;
    snprintf(tag, sizeof tag, "Learn rate/train/epoch-%lld", (long long)epoch);
    return vkt_tfevents_add_scalar(w, tag, learn_rate, step, err);
}

vkt_status vkt_tfevents_add_validation_image(vkt_tfevents *w, int64_t epoch, const uint8_t *px,
                                             int width, int height, int channels, int64_t step,
                                             vkt_err *err)
{
    /* webui textual_inversion.py: tensorboard_add_image(f"Validation at epoch {epoch_num}") */
    char tag[64];
    snprintf(tag, sizeof tag, "Validation at epoch %lld", (long long)epoch);
    return vkt_tfevents_add_image(w, tag, px, width, height, channels, step, err);
}
