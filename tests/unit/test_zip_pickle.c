/* Hostile inputs for the zip reader and the restricted unpickler: each must fail with a clear
 * message (checked by substring), never crash, and never run anything. Also the valid corners:
 * ZIP64, DEFLATE members, data descriptors, every truncation of a valid file. */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/checked.h"
#include "io/pickle.h"
#include "io/pt_writer.h"
#include "io/torch_file.h"
#include "io/zip.h"
#include "testkit.h"

/* ---- a zip builder that can lie ---- */

typedef struct zmember {
    const char *name;
    const void *data;
    size_t n;
    int method;           /* 0 or 8; 8 deflates data */
    int64_t declared;     /* uncompressed size to declare; -1 = true size */
    int64_t crc;          /* -1 = true CRC */
    uint16_t flags;
    const char *local_name; /* NULL = name */
    int64_t offset_delta;   /* added to the local-header offset in the central directory */
} zmember;

typedef struct zbuf {
    uint8_t *p;
    size_t n, cap;
} zbuf;

static void zput(zbuf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 256;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void z16(zbuf *b, uint16_t v) { uint8_t t[2]; vkt_wr_le16(t, v); zput(b, t, 2); }
static void z32(zbuf *b, uint32_t v) { uint8_t t[4]; vkt_wr_le32(t, v); zput(b, t, 4); }
static void z64(zbuf *b, uint64_t v) { uint8_t t[8]; vkt_wr_le64(t, v); zput(b, t, 8); }

static size_t deflate_raw(const void *in, size_t n, uint8_t **out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&zs, n);
    *out = malloc(cap);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = *out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    size_t r = zs.total_out;
    deflateEnd(&zs);
    return r;
}

/* zip64: sizes and offsets go through the ZIP64 extra field and end records. */
static uint8_t *mkzip(const zmember *m, int nm, bool zip64, size_t *out_n)
{
    zbuf b = {0};
    uint64_t offs[16], csz[16], usz[16];
    uint32_t crcs[16];
    for (int i = 0; i < nm; i++) {
        uint8_t *c = NULL;
        size_t cn = m[i].n;
        const void *payload = m[i].data;
        if (m[i].method == 8) {
            cn = deflate_raw(m[i].data, m[i].n, &c);
            payload = c;
        }
        offs[i] = b.n;
        csz[i] = cn;
        usz[i] = m[i].declared >= 0 ? (uint64_t)m[i].declared : m[i].n;
        crcs[i] = m[i].crc >= 0 ? (uint32_t)m[i].crc : (uint32_t)crc32(0, m[i].data, (uInt)m[i].n);
        const char *ln = m[i].local_name ? m[i].local_name : m[i].name;
        z32(&b, 0x04034b50);
        z16(&b, 45);
        z16(&b, m[i].flags);
        z16(&b, (uint16_t)m[i].method);
        z32(&b, 0);
        z32(&b, crcs[i]);
        z32(&b, zip64 ? 0xffffffffu : (uint32_t)csz[i]);
        z32(&b, zip64 ? 0xffffffffu : (uint32_t)usz[i]);
        z16(&b, (uint16_t)strlen(ln));
        z16(&b, zip64 ? 20 : 0);
        zput(&b, ln, strlen(ln));
        if (zip64) {
            z16(&b, 1);
            z16(&b, 16);
            z64(&b, usz[i]);
            z64(&b, csz[i]);
        }
        zput(&b, payload, cn);
        free(c);
    }
    uint64_t cd = b.n;
    for (int i = 0; i < nm; i++) {
        z32(&b, 0x02014b50);
        z16(&b, 45);
        z16(&b, 45);
        z16(&b, m[i].flags);
        z16(&b, (uint16_t)m[i].method);
        z32(&b, 0);
        z32(&b, crcs[i]);
        z32(&b, zip64 ? 0xffffffffu : (uint32_t)csz[i]);
        z32(&b, zip64 ? 0xffffffffu : (uint32_t)usz[i]);
        z16(&b, (uint16_t)strlen(m[i].name));
        z16(&b, zip64 ? 28 : 0);
        z16(&b, 0);
        z16(&b, 0);
        z16(&b, 0);
        z32(&b, 0);
        z32(&b, zip64 ? 0xffffffffu : (uint32_t)(offs[i] + (uint64_t)m[i].offset_delta));
        zput(&b, m[i].name, strlen(m[i].name));
        if (zip64) {
            z16(&b, 1);
            z16(&b, 24);
            z64(&b, usz[i]);
            z64(&b, csz[i]);
            z64(&b, offs[i] + (uint64_t)m[i].offset_delta);
        }
    }
    uint64_t cd_size = b.n - cd;
    if (zip64) {
        uint64_t rec = b.n;
        z32(&b, 0x06064b50);
        z64(&b, 44);
        z16(&b, 45);
        z16(&b, 45);
        z32(&b, 0);
        z32(&b, 0);
        z64(&b, (uint64_t)nm);
        z64(&b, (uint64_t)nm);
        z64(&b, cd_size);
        z64(&b, cd);
        z32(&b, 0x07064b50);
        z32(&b, 0);
        z64(&b, rec);
        z32(&b, 1);
    }
    z32(&b, 0x06054b50);
    z16(&b, 0);
    z16(&b, 0);
    z16(&b, zip64 ? 0xffff : (uint16_t)nm);
    z16(&b, zip64 ? 0xffff : (uint16_t)nm);
    z32(&b, zip64 ? 0xffffffffu : (uint32_t)cd_size);
    z32(&b, zip64 ? 0xffffffffu : (uint32_t)cd);
    z16(&b, 0);
    *out_n = b.n;
    return b.p;
}

#define M(nm, d, len) {.name = nm, .data = d, .n = len, .declared = -1, .crc = -1}

/* Opening (and reading every member of) the archive fails with a message containing want. */
static void zip_bad(const char *what, const uint8_t *p, size_t n, const char *want)
{
    vkt_err err = {0};
    vkt_zip *z = NULL;
    vkt_status s = vkt_zip_open(p, n, "t.zip", &z, &err);
    for (size_t i = 0; z && !s && i < vkt_zip_count(z); i++) {
        const uint8_t *d;
        size_t dn;
        s = vkt_zip_read(z, vkt_zip_entry_at(z, i), true, &d, &dn, &err);
    }
    TK_CHECK(s != VKT_OK && strstr(err.msg, want), "%s: want \"%s\", got \"%s\"", what, want, err.msg);
    vkt_zip_close(z);
}

static void test_zip(void)
{
    vkt_err err = {0};
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 % 251);
    const char *txt = "hello hello hello hello";

    /* valid: stored + deflate, with and without ZIP64 */
    for (int z64 = 0; z64 < 2; z64++) {
        zmember m[2] = {M("a/x.txt", txt, strlen(txt)), M("a/big", big, sizeof big)};
        m[1].method = 8;
        size_t n;
        uint8_t *p = mkzip(m, 2, z64, &n);
        vkt_zip *z = NULL;
        TK_CHECK(vkt_zip_open(p, n, "ok.zip", &z, &err) == VKT_OK, "valid zip (zip64 %d): %s", z64, err.msg);
        if (z) {
            const uint8_t *d;
            size_t dn;
            const vkt_zip_entry *e = vkt_zip_find(z, "a/big");
            TK_CHECK(e && e->method == 8 && e->size == sizeof big, "entry");
            TK_CHECK(vkt_zip_read(z, e, true, &d, &dn, &err) == VKT_OK && dn == sizeof big && memcmp(d, big, dn) == 0,
                     "inflate: %s", err.msg);
            TK_CHECK(vkt_zip_read(z, vkt_zip_find(z, "a/x.txt"), true, &d, &dn, &err) == VKT_OK && dn == strlen(txt),
                     "stored");
            TK_CHECK(!vkt_zip_find(z, "a/nope"), "absent member");
            vkt_zip_set_inflate_limit(z, 1000);
            vkt_zip_close(z);
        }
        /* every truncation fails cleanly (the end records are gone or point past the end) */
        int ok = 0;
        for (size_t k = 0; k < n; k++) {
            vkt_zip *t = NULL;
            if (vkt_zip_open(p, k, "cut", &t, &err) == VKT_OK) ok++;
            vkt_zip_close(t);
        }
        TK_CHECK(ok == 0, "%d truncations opened", ok);
        free(p);
    }

    size_t n;
    uint8_t *p;
    /* deflate limits */
    {
        zmember m[1] = {M("b", big, sizeof big)};
        m[0].method = 8;
        p = mkzip(m, 1, false, &n);
        vkt_zip *z = NULL;
        TK_CHECK(vkt_zip_open(p, n, "bomb.zip", &z, &err) == VKT_OK, "open");
        if (z) {
            const uint8_t *d;
            size_t dn;
            vkt_zip_set_inflate_limit(z, 100000);
            TK_CHECK(vkt_zip_read(z, vkt_zip_entry_at(z, 0), true, &d, &dn, &err) == VKT_ERR_FORMAT &&
                         strstr(err.msg, "over the limit of 100000 (deflate bomb?)"),
                     "inflate cap: %s", err.msg);
            vkt_zip_close(z);
        }
        free(p);
        static uint8_t zeros[1 << 20];
        zmember lie[1] = {M("z", zeros, sizeof zeros)};
        lie[0].method = 8;
        lie[0].declared = 100;
        p = mkzip(lie, 1, false, &n);
        zip_bad("stream longer than declared", p, n, "inflates past its declared 100 bytes");
        free(p);
        lie[0].declared = (int64_t)sizeof zeros + 5;
        p = mkzip(lie, 1, false, &n);
        zip_bad("stream shorter than declared", p, n, "inflates to 1048576 bytes, declared 1048581");
        free(p);
        lie[0].declared = 4000000000ll;
        p = mkzip(lie, 1, false, &n);
        zip_bad("4 GB declared", p, n, "over the limit");
        free(p);
        /* damaged stream */
        zmember d[1] = {M("d", big, 5000)};
        d[0].method = 8;
        p = mkzip(d, 1, false, &n);
        p[40] ^= 0xff, p[41] ^= 0x55, p[42] ^= 0xaa;
        zip_bad("damaged deflate", p, n, "deflate");
        free(p);
    }
    /* names */
    const char *bad_names[] = {"../etc/passwd", "a/../../b", "/abs", "a\\b", "C:x", "a/\x01"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        zmember m[1] = {M(bad_names[i], txt, 5)};
        p = mkzip(m, 1, false, &n);
        zip_bad(bad_names[i], p, n, "unsafe member name");
        free(p);
    }
    {
        zmember m[2] = {M("a/x", txt, 5), M("a/x", txt, 5)};
        p = mkzip(m, 2, false, &n);
        zip_bad("duplicate", p, n, "\"a/x\" appears twice");
        free(p);
        m[1].name = "a/y";
        m[1].offset_delta = -10; /* central directory points into a/x's data */
        p = mkzip(m, 2, false, &n);
        zip_bad("overlap", p, n, "local header");
        free(p);
        m[1].offset_delta = 0;
        m[1].local_name = "a/z";
        p = mkzip(m, 2, false, &n);
        zip_bad("local name differs", p, n, "local header names another file");
        free(p);
        m[1].local_name = NULL;
        m[0].crc = 1234;
        p = mkzip(m, 2, false, &n);
        zip_bad("crc", p, n, "CRC-32");
        free(p);
        m[0].crc = -1;
        m[0].flags = 1;
        p = mkzip(m, 2, false, &n);
        zip_bad("encrypted", p, n, "is encrypted");
        free(p);
        m[0].flags = 0;
        m[0].method = 12;
        p = mkzip(m, 2, false, &n);
        zip_bad("bzip2", p, n, "compression method 12 not supported");
        free(p);
        m[0].method = 0;
        m[0].declared = 6;
        p = mkzip(m, 2, false, &n);
        zip_bad("stored size mismatch", p, n, "stored with 5 bytes but 6 declared");
        free(p);
    }
    /* overlapping members through two directory entries sharing data */
    {
        zmember m[2] = {M("a/x", big, 1000), M("a/y", txt, 5)};
        p = mkzip(m, 2, false, &n);
        /* make a/x claim to be larger so it covers a/y's local header */
        size_t cd = n - 22 - (46 + 3) * 2;
        vkt_wr_le32(p + cd + 20, 1010);
        vkt_wr_le32(p + cd + 24, 1010);
        zip_bad("overlapping members", p, n, "overlap");
        free(p);
    }
    /* directory bounds */
    {
        zmember m[1] = {M("a/x", txt, 5)};
        p = mkzip(m, 1, false, &n);
        vkt_wr_le32(p + n - 6, 0x7fffffff); /* cd offset */
        zip_bad("cd offset past end", p, n, "central directory");
        vkt_wr_le32(p + n - 6, (uint32_t)(n - 22 - 49));
        vkt_wr_le16(p + n - 12, 60000); /* entry count */
        vkt_wr_le16(p + n - 14, 60000);
        zip_bad("too many entries", p, n, "entries do not fit");
        vkt_wr_le16(p + n - 16, 1); /* disk number */
        zip_bad("multi-disk", p, n, "multi-disk");
        free(p);
    }
    uint8_t junk[100] = {0};
    zip_bad("no end record", junk, sizeof junk, "no zip end-of-central-directory");
    zip_bad("tiny", junk, 3, "too short");
}

/* ---- pickles ---- */

static void pk_bad(const char *what, const void *p, size_t n, const char *want)
{
    vkt_err err = {0};
    vkt_pickle *pk = NULL;
    vkt_status s = vkt_pickle_load(p, n, "t.pkl", NULL, NULL, &pk, &err);
    TK_CHECK(s != VKT_OK && !pk && strstr(err.msg, want), "%s: want \"%s\", got \"%s\"", what, want, err.msg);
    vkt_pickle_free(pk);
}
#define PK_BAD(what, lit, want) pk_bad(what, lit, sizeof(lit) - 1, want)

static vkt_status fake_storage(void *ctx, const char *key, const uint8_t **data, size_t *size, vkt_err *err)
{
    (void)key;
    (void)err;
    *data = ctx;
    *size = 64;
    return VKT_OK;
}

static void test_pickle(void)
{
    /* hostile globals: refused by name at GLOBAL time, before anything could be called */
    PK_BAD("os.system", "\x80\x02" "cos\nsystem\nX\x02\x00\x00\x00id\x85R.", "global os.system is not allowed");
    PK_BAD("posix.system", "\x80\x02" "cposix\nsystem\n.", "global posix.system is not allowed");
    PK_BAD("builtins.eval STACK_GLOBAL", "\x80\x04\x8c\x08" "builtins\x8c\x04" "eval\x93.", "global builtins.eval");
    PK_BAD("builtins.getattr", "\x80\x02" "c__builtin__\ngetattr\n.", "global __builtin__.getattr");
    PK_BAD("subprocess", "\x80\x02" "csubprocess\nPopen\n.", "global subprocess.Popen");
    PK_BAD("torch.load", "\x80\x02" "ctorch\nload\n.", "global torch.load");
    PK_BAD("pickle.loads", "\x80\x02" "c_pickle\nloads\n.", "global _pickle.loads");
    PK_BAD("copyreg", "\x80\x02" "ccopyreg\n_reconstructor\n.", "global copyreg._reconstructor");
    PK_BAD("torch._utils other", "\x80\x02" "ctorch._utils\n_rebuild_qtensor\n.", "_rebuild_qtensor is not allowed");
    PK_BAD("non-ascii global", "\x80\x02" "cos\xff\nsystem\n.", "not printable ASCII");
    PK_BAD("STACK_GLOBAL non-str", "\x80\x04K\x01K\x02\x93.", "non-string names");
    /* allowlisted names used the wrong way */
    PK_BAD("call a storage class", "\x80\x02" "ctorch\nFloatStorage\n)R.", "cannot be called");
    PK_BAD("REDUCE on a str", "\x80\x02X\x01\x00\x00\x00x)R.", "REDUCE on a str");
    PK_BAD("NEWOBJ OrderedDict", "\x80\x02" "ccollections\nOrderedDict\n)\x81.", "NEWOBJ of OrderedDict is refused");
    PK_BAD("BUILD on a list", "\x80\x02]}b.", "BUILD on a list is refused");
    PK_BAD("INST", "\x80\x02(ios\nsystem\n.", "INST");
    PK_BAD("OBJ", "\x80\x02(o.", "OBJ");
    PK_BAD("EXT1", "\x80\x02\x82\x01.", "extension-registry");
    PK_BAD("NEWOBJ_EX", "\x80\x04\x92.", "NEWOBJ_EX");
    PK_BAD("PERSID text", "\x80\x02P1\n.", "text persistent ids");
    PK_BAD("persid not storage", "\x80\x02X\x03\x00\x00\x00" "abc\x85Q.", "not a ('storage', ...) tuple");
    PK_BAD("storage without resolver",
           "\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x01tQ.",
           "no storages are available");
    PK_BAD("_rebuild_device_tensor_from_numpy", "\x80\x02" "ctorch._utils\n_rebuild_device_tensor_from_numpy\n)R.",
           "not supported");
    /* structure */
    PK_BAD("self-append", "\x80\x02]q\x00h\x00" "a.", "would contain itself");
    PK_BAD("cycle through two lists", "\x80\x02]q\x00]q\x01h\x00h\x01" "a0h\x01h\x00" "a.", "already inside another");
    PK_BAD("dict value is the dict", "\x80\x02}q\x00K\x01h\x00s.", "would contain itself");
    PK_BAD("unset memo", "\x80\x02h\x05.", "memo index 5 was never set");
    PK_BAD("far memo", "\x80\x02Kzr\xff\xff\xff\x7f.", "memo index 2147483647 out of range");
    PK_BAD("underflow", "\x80\x02R.", "stack underflow");
    PK_BAD("underflow past mark", "\x80\x02K\x01(a.", "stack underflow");
    PK_BAD("SETITEMS without mark", "\x80\x02}K\x01K\x02u.", "no MARK");
    PK_BAD("SETITEM on list", "\x80\x02]K\x01K\x02s.", "SETITEM on a list");
    PK_BAD("two items at STOP", "\x80\x02K\x01K\x02.", "STOP with 2 items");
    PK_BAD("no STOP", "\x80\x02K\x01", "without STOP");
    PK_BAD("empty", "", "without STOP");
    PK_BAD("protocol 9", "\x80\x09N.", "protocol 9 not supported");
    PK_BAD("wide LONG1", "\x80\x02\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09.", "wider than 64 bits");
    PK_BAD("LONG4 past end", "\x80\x02\x8b\xff\xff\xff\x7f.", "truncated LONG");
    PK_BAD("string past end", "\x80\x02X\xff\xff\xff\xff" "ab.", "runs past the end");
    PK_BAD("BINUNICODE8 huge", "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff.", "runs past the end");
    PK_BAD("bad utf-8", "\x80\x02X\x02\x00\x00\x00\xc3\x28.", "not valid UTF-8");
    PK_BAD("FRAME past end", "\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", "bad FRAME length");
    PK_BAD("unknown opcode", "\x80\x02\xff.", "opcode 0xff not supported");
    PK_BAD("text opcode", "\x80\x02I1\n.", "opcode 'I'");
    PK_BAD("set with dict", "\x80\x02" "c__builtin__\nset\n}\x85R.", "set() with unexpected arguments");
    /* numpy scalars: 64-bit integers come from their bytes (fuzz_pickle found a UB cast here) */
#define NP_U8(bytes8) "\x80\x02" "cnumpy.core.multiarray\nscalar\ncnumpy\ndtype\nX\x02\x00\x00\x00u8\x89\x88\x87RC\x08" bytes8 "\x86R."
    PK_BAD("uint64 scalar >= 2^63", NP_U8("\x00\x00\x00\x00\x00\x00\x00\x80"), "numpy uint64 scalar above 2^63");
    {
        static const char ok[] = NP_U8("\xff\xff\xff\xff\xff\xff\xff\x7f");
        vkt_err e2 = {0};
        vkt_pickle *p2 = NULL;
        int64_t v = 0;
        TK_CHECK(vkt_pickle_load((const uint8_t *)ok, sizeof ok - 1, "np", NULL, NULL, &p2, &e2) == VKT_OK &&
                     vkt_py_int(vkt_pickle_root(p2), &v) && v == INT64_MAX,
                 "uint64 scalar 2^63-1 exact: %s", e2.msg);
        vkt_pickle_free(p2);
    }
    PK_BAD("codecs other encoding", "\x80\x02" "c_codecs\nencode\nX\x01\x00\x00\x00xX\x04\x00\x00\x00utf8\x86R.",
           "only as (str, 'latin1')");

    /* tensors: every view must stay inside its storage (fake storage: 64 bytes = 16 floats) */
    static const uint8_t stor[64];
#define TENSOR_PK(off, sizes, strides, hooks)                                                                          \
    "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(" "(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"             \
    "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x10tQ" off sizes strides "\x89" hooks "tR."
    struct {
        const char *what, *p;
        size_t n;
        const char *want;
    } tc[] = {
#define T(w, lit, want) {w, lit, sizeof(lit) - 1, want}
        T("ok 4x4", TENSOR_PK("K\x00", "(K\x04K\x04t", "(K\x04K\x01t", "}"), NULL),
        T("ok empty", TENSOR_PK("K\x10", "(K\x00K\x04t", "(K\x04K\x01t", "}"), NULL),
        T("past the end", TENSOR_PK("K\x01", "(K\x04K\x04t", "(K\x04K\x01t", "}"), "outside its 16 elements"),
        T("stride overflow", TENSOR_PK("K\x00", "(K\x04t", "(\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7ft", "}"),
          "overflows"),
        T("negative stride", TENSOR_PK("K\x00", "(K\x02t", "(J\xff\xff\xff\xfft", "}"), "negative"),
        T("negative offset", TENSOR_PK("J\xff\xff\xff\xff", "(K\x02t", "(K\x01t", "}"), "bad storage offset"),
        T("size/stride mismatch", TENSOR_PK("K\x00", "(K\x02t", "(t", "}"), "equal length"),
        T("9 dims", TENSOR_PK("K\x00", "(K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01t",
                              "(K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01K\x01t", "}"),
          "equal length <= 8"),
        T("backward hooks", TENSOR_PK("K\x00", "(K\x02t", "(K\x01t", "}K\x01K\x02s"), "backward hooks are refused"),
        T("storage too small", "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(" "(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
          "X\x01\x00\x00\x00" "0X\x03\x00\x00\x00" "cpuK\x11tQK\x00(t(t\x89}tR.", "holds 64 bytes"),
#undef T
    };
    for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
        vkt_err err = {0};
        vkt_pickle *pk = NULL;
        vkt_status s = vkt_pickle_load((const uint8_t *)tc[i].p, tc[i].n, "t", fake_storage, (void *)stor, &pk, &err);
        if (!tc[i].want)
            TK_CHECK(s == VKT_OK && vkt_py_tensor(vkt_pickle_root(pk)), "%s: %s", tc[i].what, err.msg);
        else
            TK_CHECK(s != VKT_OK && strstr(err.msg, tc[i].want), "%s: want \"%s\", got \"%s\"", tc[i].what,
                     tc[i].want, err.msg);
        vkt_pickle_free(pk);
    }

    /* a valid pickle (a .pt written by vktrain) cut at every length: always an error, never a crash */
    vkt_err err = {0};
    vkt_pt *b = NULL;
    vkt_pt_create(&b, &err);
    float v[6] = {1, 2, 3, 4, 5, 6};
    vkt_pt_val *r = vkt_pt_dict(b), *l = vkt_pt_list(b);
    vkt_pt_set_str(b, r, "t", vkt_pt_tensor(b, VKT_IO_F32, 2, (int64_t[]){2, 3}, v, true));
    vkt_pt_append(b, l, vkt_pt_float(b, 0.5));
    vkt_pt_append(b, l, vkt_pt_int(b, -70000));
    vkt_pt_set_str(b, r, "l", l);
    uint8_t *file = NULL;
    size_t fn = 0;
    vkt_pt_write_memory(b, r, "x", &file, &fn, &err);
    vkt_pt_destroy(b);
    vkt_zip *z = NULL;
    TK_CHECK(file && vkt_zip_open(file, fn, "x", &z, &err) == VKT_OK, "zip of a written .pt");
    if (z) {
        const uint8_t *pp;
        size_t pn;
        vkt_zip_read(z, vkt_zip_find(z, "x/data.pkl"), true, &pp, &pn, &err);
        int opened = 0;
        for (size_t k = 0; k < pn; k++) {
            vkt_pickle *pk = NULL;
            if (vkt_pickle_load(pp, k, "cut", fake_storage, (void *)stor, &pk, &err) == VKT_OK) opened++;
            vkt_pickle_free(pk);
        }
        TK_CHECK(opened == 0, "%d truncated pickles loaded", opened);
        vkt_zip_close(z);
    }
    /* the whole .pt cut at every length */
    int opened = 0;
    for (size_t k = 0; k < fn; k++) {
        vkt_torch *t = NULL;
        if (vkt_torch_open_memory(file, k, "cut.pt", 0, &t, &err) == VKT_OK) opened++;
        vkt_torch_close(t);
    }
    TK_CHECK(opened == 0, "%d truncated .pt files opened", opened);
    /* one flipped byte in a storage: the CRC catches it */
    for (size_t k = fn - sizeof v; k-- > 0;)
        if (memcmp(file + k, v, sizeof v) == 0) {
            file[k + 5] ^= 1;
            break;
        }
    vkt_torch *t = NULL;
    TK_CHECK(vkt_torch_open_memory(file, fn, "flip.pt", 0, &t, &err) == VKT_ERR_FORMAT && strstr(err.msg, "CRC-32"),
             "flipped storage byte: %s", err.msg);
    vkt_torch_close(t);
    t = NULL;
    TK_CHECK(vkt_torch_open_memory(file, fn, "flip.pt", VKT_TORCH_SKIP_CRC, &t, &err) == VKT_OK, "SKIP_CRC opens it");
    vkt_torch_close(t);
    free(file);

    /* a dict of 200000 distinct keys loads quickly (hashed SETITEM), duplicates replace */
    size_t cap = 200000 * 12 + 64, k = 0;
    uint8_t *big = malloc(cap);
    big[k++] = 0x80, big[k++] = 2, big[k++] = '}', big[k++] = '(';
    for (int i = 0; i < 200000; i++) {
        big[k++] = 'J';
        vkt_wr_le32(big + k, (uint32_t)(i % 150000));
        k += 4;
        big[k++] = 'J';
        vkt_wr_le32(big + k, (uint32_t)i);
        k += 4;
    }
    big[k++] = 'u', big[k++] = '.';
    vkt_pickle *pk = NULL;
    TK_CHECK(vkt_pickle_load(big, k, "big", NULL, NULL, &pk, &err) == VKT_OK, "big dict: %s", err.msg);
    int64_t x = 0;
    TK_CHECK(vkt_py_len(vkt_pickle_root(pk)) == 150000 && vkt_py_int(vkt_py_get_int(vkt_pickle_root(pk), 7), &x) &&
                 x == 150007,
             "150000 keys, later value wins");
    vkt_pickle_free(pk);
    free(big);

    /* non-zip input */
    static const uint8_t legacy[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'};
    t = NULL;
    TK_CHECK(vkt_torch_open_memory(legacy, sizeof legacy, "old.pt", 0, &t, &err) == VKT_ERR_UNSUPPORTED &&
                 strstr(err.msg, "legacy"),
             "legacy: %s", err.msg);
    TK_CHECK(vkt_torch_open_memory((const uint8_t *)"hello world", 11, "txt", 0, &t, &err) == VKT_ERR_FORMAT &&
                 strstr(err.msg, "not a PyTorch zip file"),
             "text: %s", err.msg);
}

int main(void)
{
    test_zip();
    test_pickle();
    return tk_finish("io.zip_pickle");
}
