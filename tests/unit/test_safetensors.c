/* safetensors reader/writer: round trips for every dtype, conversions, and hostile headers that
 * must fail with a message naming the tensor and the problem. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/checked.h"
#include "io/safetensors.h"
#include "testkit.h"

/* A file image: 8-byte length, header text, then n_data bytes of 0xAB. */
static uint8_t *mk(const char *header, size_t n_data, size_t *out_n)
{
    size_t hn = strlen(header);
    uint8_t *p = malloc(8 + hn + n_data + 1);
    vkt_wr_le64(p, hn);
    memcpy(p + 8, header, hn);
    memset(p + 8 + hn, 0xab, n_data);
    *out_n = 8 + hn + n_data;
    return p;
}

/* Opening header+data must fail with VKT_ERR_FORMAT and a message containing want. */
static void bad(const char *header, size_t n_data, const char *want)
{
    size_t n;
    uint8_t *p = mk(header, n_data, &n);
    vkt_safetensors *st = NULL;
    vkt_err err = {0};
    vkt_status s = vkt_safetensors_open_memory(p, n, "bad.safetensors", &st, &err);
    TK_CHECK(s == VKT_ERR_FORMAT && !st, "expected failure for %s (got %d)", header, s);
    TK_CHECK(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
    vkt_safetensors_close(st);
    free(p);
}

static void test_hostile(void)
{
    vkt_safetensors *st = NULL;
    vkt_err err = {0};
    uint8_t tiny[5] = {1, 2, 3, 4, 5};
    TK_CHECK(vkt_safetensors_open_memory(tiny, 5, "t", &st, &err) == VKT_ERR_FORMAT, "too short");
    TK_CHECK(strstr(err.msg, "too short"), "%s", err.msg);
    uint8_t big[16] = {0};
    vkt_wr_le64(big, 200000000);
    TK_CHECK(vkt_safetensors_open_memory(big, 16, "t", &st, &err) == VKT_ERR_FORMAT, "header bomb");
    TK_CHECK(strstr(err.msg, "exceeds the limit"), "%s", err.msg);
    vkt_wr_le64(big, 9);
    TK_CHECK(vkt_safetensors_open_memory(big, 16, "t", &st, &err) == VKT_ERR_FORMAT, "header past eof");
    TK_CHECK(strstr(err.msg, "only 16 bytes"), "%s", err.msg);
    vkt_wr_le64(big, UINT64_MAX);
    TK_CHECK(vkt_safetensors_open_memory(big, 16, "t", &st, &err) == VKT_ERR_FORMAT, "header 2^64-1");

    bad("[1,2]", 0, "does not start with '{'");
    bad("{\"a\":\xff}", 0, "not valid UTF-8");
    bad("{\"a\":\xc0\x80}", 0, "not valid UTF-8"); /* overlong NUL */
    bad("{\"a\":", 0, "not valid JSON");
    bad("{} x", 0, "trailing bytes after the JSON");
    bad("{\"w\":1}", 0, "\"w\": header entry is not an object");
    bad("{\"w\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, "\"w\": missing dtype");
    bad("{\"w\":{\"dtype\":\"C64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, "\"w\": unsupported dtype \"C64\"");
    bad("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "\"w\": missing shape");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "\"w\": shape[0] is not");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4, "shape[0] is not");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape[0] is not");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "shape[0] is not");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "9 dims");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4,
        "\"w\": shape too large");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
        "\"w\": F32 x 2 elements needs 8 bytes, data_offsets give 4");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "end before begin");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "data_offsets must be");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "data_offsets must be");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 4, "past the end of the data");
    bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,18446744073709551616]}}",
        4, "data_offsets must be");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "\"b\": data_offsets [4, 8] overlap tensor \"a\"");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "\"b\": data_offsets [8, 12] leave a hole at 4");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "4 trailing bytes");
    bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "\"a\" appears twice");
    bad("{\"__metadata__\":{\"k\":1}}", 0, "__metadata__ \"k\" is not a string");
    bad("{\"__metadata__\":[]}", 0, "__metadata__ is not an object");
    bad("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "\"k\" appears twice");
    bad("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "__metadata__ appears twice");
    /* 2000 levels of nesting: cJSON's nesting limit turns this into a JSON error, not a crash */
    char deep[4100];
    strcpy(deep, "{\"a\":");
    for (int i = 0; i < 2000; i++) strcat(deep, "[");
    bad(deep, 0, "not valid JSON");

    /* valid edge cases: empty header object, zero-size tensors, padding spaces */
    size_t n;
    uint8_t *p = mk("{}      ", 0, &n);
    TK_CHECK(vkt_safetensors_open_memory(p, n, "empty", &st, &err) == VKT_OK, "empty header: %s", err.msg);
    TK_CHECK(st && vkt_safetensors_count(st) == 0, "no tensors");
    vkt_safetensors_close(st);
    free(p);
    p = mk("{\"z\":{\"dtype\":\"F16\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
           "\"s\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
           "\"y\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 8, &n);
    st = NULL;
    TK_CHECK(vkt_safetensors_open_memory(p, n, "zero", &st, &err) == VKT_OK, "zero-size tensors: %s", err.msg);
    if (st) {
        const vkt_tensor_data *s = vkt_safetensors_find(st, "s");
        TK_CHECK(s && s->ndim == 0 && vkt_tensor_data_numel(s) == 1 && s->bytes == 8, "scalar");
        const vkt_tensor_data *z = vkt_safetensors_find(st, "z");
        TK_CHECK(z && vkt_tensor_data_numel(z) == 0 && z->bytes == 0, "empty tensor");
        TK_CHECK(!vkt_safetensors_find(st, "q"), "absent key");
        TK_CHECK(strcmp(vkt_safetensors_name(st, 0), "z") == 0 && strcmp(vkt_safetensors_name(st, 2), "y") == 0,
                 "header order kept");
    }
    vkt_safetensors_close(st);
    free(p);
}

static void test_roundtrip(void)
{
    vkt_err err = {0};
    vkt_safetensors_writer *w = NULL;
    TK_CHECK(vkt_safetensors_writer_create(&w, &err) == VKT_OK, "create");
    /* one tensor of every dtype with recognisable bytes */
    uint8_t payload[VKT_IO_DTYPE_COUNT][48];
    for (int d = 0; d < VKT_IO_DTYPE_COUNT; d++) {
        for (int i = 0; i < 48; i++) payload[d][i] = (uint8_t)(d * 17 + i * 3);
        if (d == VKT_IO_BOOL)
            for (int i = 0; i < 48; i++) payload[d][i] &= 1;
        char name[32];
        snprintf(name, sizeof name, "t.%s", vkt_io_dtype_name((vkt_io_dtype)d));
        int64_t shape[2] = {2, (int64_t)(24 / vkt_io_dtype_size((vkt_io_dtype)d))};
        TK_CHECK(vkt_safetensors_writer_add(w, name, (vkt_io_dtype)d, 2, shape, payload[d], &err) == VKT_OK,
                 "add %s: %s", name, err.msg);
    }
    float one = 1.0f;
    TK_CHECK(vkt_safetensors_writer_add(w, "scalar", VKT_IO_F32, 0, NULL, &one, &err) == VKT_OK, "scalar");
    TK_CHECK(vkt_safetensors_writer_add(w, "scalar", VKT_IO_F32, 0, NULL, &one, &err) == VKT_ERR_USAGE, "dup");
    TK_CHECK(vkt_safetensors_writer_add(w, "__metadata__", VKT_IO_F32, 0, NULL, &one, &err) == VKT_ERR_USAGE,
             "reserved name");
    TK_CHECK(vkt_safetensors_writer_meta(w, "vktrain.unet_heads", "4", &err) == VKT_OK, "meta");
    TK_CHECK(vkt_safetensors_writer_meta(w, "quote\"d", "line\nbreak \xc3\xa9", &err) == VKT_OK, "meta 2");
    TK_CHECK(vkt_safetensors_writer_meta(w, "vktrain.unet_heads", "8", &err) == VKT_OK, "meta replace");
    uint8_t *buf = NULL;
    size_t n = 0;
    TK_CHECK(vkt_safetensors_writer_to_memory(w, &buf, &n, &err) == VKT_OK, "to memory");
    TK_CHECK(buf && vkt_rd_le64(buf) % 8 == 0, "header padded to a multiple of 8");
    vkt_safetensors *st = NULL;
    TK_CHECK(vkt_safetensors_open_memory(buf, n, "mem", &st, &err) == VKT_OK, "reopen: %s", err.msg);
    if (st) {
        TK_CHECK(vkt_safetensors_count(st) == VKT_IO_DTYPE_COUNT + 1, "count");
        TK_CHECK(vkt_safetensors_data_offset(st) % 8 == 0, "data aligned");
        for (int d = 0; d < VKT_IO_DTYPE_COUNT; d++) {
            char name[32];
            snprintf(name, sizeof name, "t.%s", vkt_io_dtype_name((vkt_io_dtype)d));
            const vkt_tensor_data *t = vkt_safetensors_find(st, name);
            TK_CHECK(t && t->dtype == (vkt_io_dtype)d && t->ndim == 2 && t->shape[0] == 2 && t->bytes == 48 &&
                         memcmp(t->data, payload[d], 48) == 0,
                     "%s round trip", name);
            TK_CHECK(strcmp(vkt_safetensors_name(st, (size_t)d), name) == 0, "order %d", d);
        }
        TK_CHECK(vkt_safetensors_meta_count(st) == 2, "meta count");
        TK_CHECK(strcmp(vkt_safetensors_meta(st, "vktrain.unet_heads"), "8") == 0, "meta value");
        TK_CHECK(strcmp(vkt_safetensors_meta(st, "quote\"d"), "line\nbreak \xc3\xa9") == 0, "escaped meta");
        TK_CHECK(!vkt_safetensors_meta(st, "absent"), "absent meta");
    }
    vkt_safetensors_close(st);
    free(buf);

    /* through a file: temp then rename, nothing left behind */
    const char *dir = tk_tmpdir("safetensors");
    char path[2100], tmp[2200];
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    TK_CHECK(vkt_safetensors_writer_write(w, path, &err) == VKT_OK, "write: %s", err.msg);
    TK_CHECK(access(tmp, F_OK) != 0, "no temp file left");
    st = NULL;
    TK_CHECK(vkt_safetensors_open(path, &st, &err) == VKT_OK, "open file: %s", err.msg);
    if (st) {
        const vkt_tensor_data *t = vkt_safetensors_find(st, "scalar");
        float f = 0;
        TK_CHECK(t && vkt_tensor_data_to_f32(t, &f, &err) == VKT_OK && f == 1.0f, "scalar value");
        TK_CHECK(vkt_safetensors_file_size(st) == n, "same bytes as to_memory");
    }
    vkt_safetensors_close(st);
    snprintf(path, sizeof path, "%s/missing.safetensors", dir);
    st = NULL;
    TK_CHECK(vkt_safetensors_open(path, &st, &err) == VKT_ERR_IO && strstr(err.msg, "missing.safetensors"),
             "missing file: %s", err.msg);
    vkt_safetensors_writer_destroy(w);
}

static void test_convert(void)
{
    vkt_err err = {0};
    /* f16: every finite half converts exactly and back */
    int bad16 = 0, badbf = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = vkt_io_f16_to_f32((uint16_t)h);
        if (isnan(f)) {
            if ((h & 0x7c00) != 0x7c00 || !(h & 0x3ff)) bad16++;
            if (!isnan(vkt_io_f16_to_f32(vkt_io_f32_to_f16(f)))) bad16++;
            continue;
        }
        if (vkt_io_f32_to_f16(f) != h) bad16++;
        float b = vkt_io_bf16_to_f32((uint16_t)h);
        if (!isnan(b) && vkt_io_f32_to_bf16(b) != h) badbf++;
    }
    TK_CHECK(bad16 == 0, "f16 round trips (%d bad)", bad16);
    TK_CHECK(badbf == 0, "bf16 round trips (%d bad)", badbf);
    TK_CHECK(vkt_io_f16_to_f32(0x3c00) == 1.0f && vkt_io_f16_to_f32(0xc000) == -2.0f &&
                 vkt_io_f16_to_f32(0x0001) == 0x1p-24f && isinf(vkt_io_f16_to_f32(0x7c00)),
             "f16 values");
    /* rounding: halfway cases go to even; overflow to inf; tiny to zero */
    TK_CHECK(vkt_io_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00, "tie to even (down)");
    TK_CHECK(vkt_io_f32_to_f16(1.0f + 3 * 0x1p-11f) == 0x3c02, "tie to even (up)");
    TK_CHECK(vkt_io_f32_to_f16(65520.0f) == 0x7c00 && vkt_io_f32_to_f16(65519.0f) == 0x7bff, "overflow");
    TK_CHECK(vkt_io_f32_to_f16(0x1p-26f) == 0 && vkt_io_f32_to_f16(0x1.8p-25f) == 1, "underflow");
    TK_CHECK(vkt_io_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80 && vkt_io_f32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82,
             "bf16 ties");

    /* to_f32 for each dtype, and a strided (transposed) view */
    struct {
        vkt_io_dtype dt;
        uint8_t bytes[16];
        float want[2];
    } cases[] = {
        {VKT_IO_F64, {0, 0, 0, 0, 0, 0, 0xf8, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0xc0}, {1.5f, -2.0f}},
        {VKT_IO_F32, {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc1}, {1.0f, -8.0f}},
        {VKT_IO_F16, {0x00, 0x3c, 0x00, 0xc4}, {1.0f, -4.0f}},
        {VKT_IO_BF16, {0x80, 0x3f, 0x40, 0xc0}, {1.0f, -3.0f}},
        {VKT_IO_F8_E4M3, {0x38, 0xc8}, {1.0f, -4.0f}},  /* 0.0111.000 = 2^0; 1.1001.000 = -2^2 */
        {VKT_IO_F8_E5M2, {0x3c, 0xc4}, {1.0f, -4.0f}},
        {VKT_IO_I64, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0, 0, 0, 0, 0}, {-1.0f, 7.0f}},
        {VKT_IO_I32, {0xfe, 0xff, 0xff, 0xff, 3, 0, 0, 0}, {-2.0f, 3.0f}},
        {VKT_IO_I16, {0xfd, 0xff, 4, 0}, {-3.0f, 4.0f}},
        {VKT_IO_I8, {0xfc, 5}, {-4.0f, 5.0f}},
        {VKT_IO_U64, {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0}, {4294967295.0f, 1.0f}},
        {VKT_IO_U32, {0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0}, {4294967295.0f, 2.0f}},
        {VKT_IO_U16, {0xff, 0xff, 2, 0}, {65535.0f, 2.0f}},
        {VKT_IO_U8, {0xff, 9}, {255.0f, 9.0f}},
        {VKT_IO_BOOL, {1, 0}, {1.0f, 0.0f}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        vkt_tensor_data t = {.dtype = cases[c].dt, .ndim = 1, .shape = {2}, .data = cases[c].bytes};
        vkt_tensor_data_set_contiguous(&t);
        t.bytes = 2 * vkt_io_dtype_size(t.dtype);
        float out[2] = {0};
        TK_CHECK(vkt_tensor_data_to_f32(&t, out, &err) == VKT_OK && out[0] == cases[c].want[0] &&
                     out[1] == cases[c].want[1],
                 "to_f32 %s: got %g %g", vkt_io_dtype_name(cases[c].dt), out[0], out[1]);
    }
    float m[6] = {0, 1, 2, 3, 4, 5}; /* [2,3] stored; view as its transpose [3,2] */
    vkt_tensor_data t = {.dtype = VKT_IO_F32, .ndim = 2, .shape = {3, 2}, .strides = {1, 3},
                         .data = (const uint8_t *)m, .bytes = 24};
    float out[6], want[6] = {0, 3, 1, 4, 2, 5};
    TK_CHECK(!vkt_tensor_data_is_contiguous(&t), "transpose is not contiguous");
    TK_CHECK(vkt_tensor_data_to_f32(&t, out, &err) == VKT_OK && memcmp(out, want, sizeof out) == 0,
             "strided to_f32");
    float cp[6];
    TK_CHECK(vkt_tensor_data_copy(&t, cp, &err) == VKT_OK && memcmp(cp, want, sizeof cp) == 0, "strided copy");
    char sbuf[64];
    TK_CHECK(strcmp(vkt_tensor_data_shape_str(&t, sbuf, sizeof sbuf), "[3,2]") == 0, "shape str");
    vkt_io_dtype dt;
    TK_CHECK(vkt_io_dtype_parse("BF16", &dt) && dt == VKT_IO_BF16 && !vkt_io_dtype_parse("bf16", &dt),
             "dtype names are exact");
}

int main(void)
{
    test_hostile();
    test_roundtrip();
    test_convert();
    return tk_finish("io.safetensors");
}
