/* Zip reader and streaming STORED writer. Knows nothing of Vulkan or PyTorch; every offset and
 * size from the archive passes checked arithmetic and a bound before use. Layout facts from
 * PKWARE APPNOTE.TXT 6.3 (sections 4.3.7 local header, 4.3.12 central header, 4.3.14-16 end
 * records, 4.5.3 ZIP64 extra field). */
#define _GNU_SOURCE
#include "io/zip.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/checked.h"
#include "base/fault.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

typedef struct zentry {
    vkt_zip_entry pub;
    uint8_t *inflated; /* owned, DEFLATE members once read */
    bool crc_ok;
} zentry;

struct vkt_zip {
    const uint8_t *data;
    size_t size;
    char label[256];
    zentry *ents;
    size_t n;
    size_t *by_name;
    uint64_t inflate_limit, inflated_total;
};

bool vkt_zip_is_zip(const uint8_t *data, size_t size)
{
    return size >= 4 && vkt_rd_le32(data) == SIG_LOCAL;
}

static int cmp_name(const void *a, const void *b, void *ctx)
{
    const zentry *e = ctx;
    return strcmp(e[*(const size_t *)a].pub.name, e[*(const size_t *)b].pub.name);
}

static int cmp_off(const void *a, const void *b, void *ctx)
{
    const zentry *e = ctx;
    uint64_t x = e[*(const size_t *)a].pub.header_off, y = e[*(const size_t *)b].pub.header_off;
    return x < y ? -1 : x > y;
}

/* Refuses names that could escape a directory if anyone ever extracted them, and names that
 * are not plain text. */
static bool name_safe(const uint8_t *p, size_t n)
{
    if (n == 0 || p[0] == '/' || (n >= 2 && p[1] == ':')) return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\') return false;
    /* ".." as a whole path component */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && p[j] != '/') j++;
        if (j - i == 2 && p[i] == '.' && p[i + 1] == '.') return false;
        i = j + 1;
    }
    return true;
}

/* ZIP64 extended information extra field: replaces the 0xFFFFFFFF fields in this order. */
static bool zip64_extra(const uint8_t *x, size_t xn, bool need_usize, bool need_csize, bool need_off,
                        uint64_t *usize, uint64_t *csize, uint64_t *off)
{
    size_t i = 0;
    while (xn - i >= 4) {
        uint16_t id = vkt_rd_le16(x + i), len = vkt_rd_le16(x + i + 2);
        if (len > xn - i - 4) return false;
        if (id == 1) {
            const uint8_t *p = x + i + 4;
            size_t k = 0;
            if (need_usize) {
                if (len - k < 8) return false;
                *usize = vkt_rd_le64(p + k), k += 8;
            }
            if (need_csize) {
                if (len - k < 8) return false;
                *csize = vkt_rd_le64(p + k), k += 8;
            }
            if (need_off) {
                if (len - k < 8) return false;
                *off = vkt_rd_le64(p + k), k += 8;
            }
            return true;
        }
        i += 4 + (size_t)len;
    }
    return !need_usize && !need_csize && !need_off;
}

static vkt_status parse(vkt_zip *z, vkt_err *err)
{
    const uint8_t *d = z->data;
    size_t size = z->size;
    const char *lb = z->label;
    if (size < 22) return vkt_fail(err, VKT_ERR_FORMAT, "%s: %zu bytes, too short for a zip archive", lb, size);
    /* End of central directory: scan back over at most a 64 KiB comment. */
    size_t eocd = SIZE_MAX;
    size_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0;
    for (size_t i = size - 22 + 1; i-- > lo;)
        if (vkt_rd_le32(d + i) == SIG_EOCD && i + 22 + vkt_rd_le16(d + i + 20) <= size) {
            eocd = i;
            break;
        }
    if (eocd == SIZE_MAX)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: no zip end-of-central-directory record (truncated file?)", lb);
    const uint8_t *e = d + eocd;
    uint64_t n_ent = vkt_rd_le16(e + 10), cd_size = vkt_rd_le32(e + 12), cd_off = vkt_rd_le32(e + 16);
    if (vkt_rd_le16(e + 4) != 0 || vkt_rd_le16(e + 6) != 0 || vkt_rd_le16(e + 8) != vkt_rd_le16(e + 10))
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", lb);
    size_t cd_limit = eocd; /* the central directory ends before the end records */
    if (eocd >= 20 && vkt_rd_le32(d + eocd - 20) == SIG_LOC64) {
        const uint8_t *l = d + eocd - 20;
        uint64_t off64 = vkt_rd_le64(l + 8);
        if (vkt_rd_le32(l + 4) != 0 || vkt_rd_le32(l + 16) > 1)
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", lb);
        if (off64 > eocd - 20 || eocd - 20 - off64 < 56 || vkt_rd_le32(d + off64) != SIG_EOCD64)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: bad ZIP64 end-of-central-directory locator", lb);
        const uint8_t *r = d + off64;
        if (vkt_rd_le32(r + 16) != 0 || vkt_rd_le32(r + 20) != 0 || vkt_rd_le64(r + 24) != vkt_rd_le64(r + 32))
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported", lb);
        n_ent = vkt_rd_le64(r + 32);
        cd_size = vkt_rd_le64(r + 40);
        cd_off = vkt_rd_le64(r + 48);
        cd_limit = (size_t)off64;
    } else if (n_ent == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: ZIP64 values without a ZIP64 end record", lb);
    }
    if (cd_off > cd_limit || cd_size > cd_limit - cd_off)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: central directory [%llu, +%llu) outside the archive", lb,
                        (unsigned long long)cd_off, (unsigned long long)cd_size);
    if (n_ent > VKT_ZIP_MAX_ENTRIES || n_ent > cd_size / 46)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %llu entries do not fit a %llu-byte central directory", lb,
                        (unsigned long long)n_ent, (unsigned long long)cd_size);
    z->ents = vkt_calloc((size_t)n_ent + 1, sizeof *z->ents);
    z->by_name = vkt_calloc((size_t)n_ent + 1, sizeof *z->by_name);
    if (!z->ents || !z->by_name) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", lb);
    size_t p = (size_t)cd_off, cd_end = (size_t)(cd_off + cd_size);
    for (uint64_t k = 0; k < n_ent; k++) {
        if (cd_end - p < 46 || vkt_rd_le32(d + p) != SIG_CENTRAL)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: central directory entry %llu is damaged", lb,
                            (unsigned long long)k);
        const uint8_t *c = d + p;
        uint16_t flags = vkt_rd_le16(c + 8), method = vkt_rd_le16(c + 10);
        uint32_t crc = vkt_rd_le32(c + 16);
        uint64_t csize = vkt_rd_le32(c + 20), usize = vkt_rd_le32(c + 24);
        size_t nlen = vkt_rd_le16(c + 28), xlen = vkt_rd_le16(c + 30), clen = vkt_rd_le16(c + 32);
        uint16_t disk = vkt_rd_le16(c + 34);
        uint64_t off = vkt_rd_le32(c + 42);
        if (cd_end - p - 46 < nlen + xlen + clen)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: central directory entry %llu runs past the directory", lb,
                            (unsigned long long)k);
        const uint8_t *nm = c + 46;
        zentry *ze = &z->ents[z->n];
        char *name = vkt_malloc(nlen + 1);
        if (!name) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", lb);
        memcpy(name, nm, nlen);
        name[nlen] = 0;
        ze->pub.name = name;
        z->by_name[z->n] = z->n;
        z->n++;
        if (!name_safe(nm, nlen))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: unsafe member name \"%.80s\" refused", lb, name);
        if (!zip64_extra(nm + nlen, xlen, usize == 0xffffffffu, csize == 0xffffffffu, off == 0xffffffffu,
                         &usize, &csize, &off) ||
            (disk != 0 && disk != 0xffff))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\": bad ZIP64 extra field", lb, name);
        if (flags & 1)
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: member \"%s\" is encrypted", lb, name);
        if (method != 0 && method != 8)
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: member \"%s\": compression method %u not supported",
                            lb, name, method);
        if (method == 0 && csize != usize)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\": stored with %llu bytes but %llu declared", lb,
                            name, (unsigned long long)csize, (unsigned long long)usize);
        /* local header: its own name and extra lengths decide where the data starts */
        if (off > cd_off || cd_off - off < 30 || vkt_rd_le32(d + off) != SIG_LOCAL)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\": local header at %llu is missing", lb, name,
                            (unsigned long long)off);
        const uint8_t *l = d + off;
        size_t lnlen = vkt_rd_le16(l + 26), lxlen = vkt_rd_le16(l + 28);
        uint64_t data_off = off + 30 + lnlen + lxlen;
        if (data_off > cd_off || csize > cd_off - data_off)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\": data [%llu, +%llu) runs past the members", lb,
                            name, (unsigned long long)data_off, (unsigned long long)csize);
        if (lnlen != nlen || memcmp(l + 30, nm, nlen) != 0)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\": local header names another file", lb, name);
        ze->pub.comp_size = csize;
        ze->pub.size = usize;
        ze->pub.crc32 = crc;
        ze->pub.method = method;
        ze->pub.header_off = off;
        ze->pub.data_off = data_off;
        p += 46 + nlen + xlen + clen;
    }
    qsort_r(z->by_name, z->n, sizeof *z->by_name, cmp_name, z->ents);
    for (size_t i = 1; i < z->n; i++)
        if (strcmp(z->ents[z->by_name[i - 1]].pub.name, z->ents[z->by_name[i]].pub.name) == 0)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\" appears twice", lb,
                            z->ents[z->by_name[i]].pub.name);
    /* Members may not overlap: overlapping entries are how "non-recursive" zip bombs amplify. */
    size_t *by_off = vkt_calloc(z->n + 1, sizeof *by_off);
    if (!by_off) return vkt_fail(err, VKT_ERR_NOMEM, "%s: out of memory", lb);
    for (size_t i = 0; i < z->n; i++) by_off[i] = i;
    qsort_r(by_off, z->n, sizeof *by_off, cmp_off, z->ents);
    vkt_status s = VKT_OK;
    for (size_t i = 1; i < z->n; i++) {
        const vkt_zip_entry *a = &z->ents[by_off[i - 1]].pub, *b = &z->ents[by_off[i]].pub;
        if (a->data_off + a->comp_size > b->header_off) {
            s = vkt_fail(err, VKT_ERR_FORMAT, "%s: members \"%s\" and \"%s\" overlap", lb, a->name, b->name);
            break;
        }
    }
    free(by_off);
    return s;
}

vkt_status vkt_zip_open(const uint8_t *data, size_t size, const char *label, vkt_zip **out, vkt_err *err)
{
    vkt_zip *z = vkt_calloc(1, sizeof *z);
    if (!z) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    z->data = data;
    z->size = size;
    z->inflate_limit = VKT_ZIP_DEFAULT_INFLATE_LIMIT;
    snprintf(z->label, sizeof z->label, "%s", label ? label : "zip");
    vkt_status s = parse(z, err);
    if (s) {
        vkt_zip_close(z);
        return s;
    }
    *out = z;
    return VKT_OK;
}

void vkt_zip_close(vkt_zip *z)
{
    if (!z) return;
    for (size_t i = 0; i < z->n; i++) {
        free((char *)z->ents[i].pub.name);
        free(z->ents[i].inflated);
    }
    free(z->ents);
    free(z->by_name);
    free(z);
}

void vkt_zip_set_inflate_limit(vkt_zip *z, uint64_t bytes) { z->inflate_limit = bytes; }
size_t vkt_zip_count(const vkt_zip *z) { return z->n; }
const vkt_zip_entry *vkt_zip_entry_at(const vkt_zip *z, size_t i) { return i < z->n ? &z->ents[i].pub : NULL; }

const vkt_zip_entry *vkt_zip_find(const vkt_zip *z, const char *name)
{
    size_t lo = 0, hi = z->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const zentry *e = &z->ents[z->by_name[mid]];
        int c = strcmp(name, e->pub.name);
        if (!c) return &e->pub;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) { /* crc32() takes a uInt length */
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

static vkt_status inflate_entry(vkt_zip *z, zentry *ze, vkt_err *err)
{
    const vkt_zip_entry *e = &ze->pub;
    const char *lb = z->label;
    if (e->size > z->inflate_limit || z->inflated_total > z->inflate_limit - e->size)
        return vkt_fail(err, VKT_ERR_FORMAT,
                        "%s: member \"%s\" declares %llu inflated bytes, over the limit of %llu (deflate bomb?)", lb,
                        e->name, (unsigned long long)e->size, (unsigned long long)z->inflate_limit);
    if (e->size > SIZE_MAX - 1) return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\" too large", lb, e->name);
    uint8_t *out = vkt_malloc((size_t)e->size + 1);
    if (!out)
        return vkt_fail(err, VKT_ERR_NOMEM, "%s: member \"%s\": cannot allocate %llu bytes", lb, e->name,
                        (unsigned long long)e->size);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) {
        free(out);
        return vkt_fail(err, VKT_ERR_NOMEM, "%s: zlib init failed", lb);
    }
    const uint8_t *in = z->data + e->data_off;
    uint64_t in_left = e->comp_size, out_left = e->size;
    uint8_t *o = out, spare;
    bool spare_used = false, overflow = false;
    int r = Z_OK;
    vkt_status s = VKT_OK;
    /* Feed and drain in chunks below 4 GiB (zlib counts in uInt). One spare output byte past the
     * declared size shows a stream that inflates further than it says. */
    for (;;) {
        if (!zs.avail_in && in_left) {
            zs.next_in = (Bytef *)in;
            zs.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
            in += zs.avail_in;
            in_left -= zs.avail_in;
        }
        if (!zs.avail_out) {
            if (out_left) {
                zs.next_out = o;
                zs.avail_out = out_left > (1u << 30) ? (1u << 30) : (uInt)out_left;
                o += zs.avail_out;
                out_left -= zs.avail_out;
            } else if (!spare_used) {
                zs.next_out = &spare;
                zs.avail_out = 1;
                spare_used = true;
            } else {
                overflow = true;
                break;
            }
        }
        r = inflate(&zs, Z_NO_FLUSH);
        if (r == Z_STREAM_END) break;
        if (r == Z_BUF_ERROR && ((!zs.avail_in && in_left) || !zs.avail_out)) continue;
        if (r != Z_OK) break;
    }
    if (overflow || (uint64_t)zs.total_out > e->size)
        s = vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\" inflates past its declared %llu bytes (deflate bomb?)",
                     lb, e->name, (unsigned long long)e->size);
    else if (r != Z_STREAM_END)
        s = vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\": damaged deflate stream (%s)", lb, e->name,
                     r == Z_BUF_ERROR ? "truncated" : "bad data");
    else if ((uint64_t)zs.total_out != e->size)
        s = vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\" inflates to %llu bytes, declared %llu", lb, e->name,
                     (unsigned long long)zs.total_out, (unsigned long long)e->size);
    inflateEnd(&zs);
    if (s) {
        free(out);
        return s;
    }
    ze->inflated = out;
    z->inflated_total += e->size;
    return VKT_OK;
}

vkt_status vkt_zip_read(vkt_zip *z, const vkt_zip_entry *e, bool verify_crc, const uint8_t **data,
                        size_t *size, vkt_err *err)
{
    zentry *ze = (zentry *)e; /* pub is the first member */
    if (ze < z->ents || ze >= z->ents + z->n)
        return vkt_fail(err, VKT_ERR_INTERNAL, "%s: entry does not belong to this archive", z->label);
    const uint8_t *p;
    if (e->method == 0) {
        p = z->data + e->data_off;
    } else {
        if (!ze->inflated) {
            vkt_status s = inflate_entry(z, ze, err);
            if (s) return s;
        }
        p = ze->inflated;
    }
    if (verify_crc && !ze->crc_ok) {
        uint32_t c = crc_of(p, (size_t)e->size);
        if (c != e->crc32)
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: member \"%s\": CRC-32 %08x, expected %08x (damaged file)",
                            z->label, e->name, c, e->crc32);
        ze->crc_ok = true;
    }
    *data = p;
    *size = (size_t)e->size;
    return VKT_OK;
}

/* ---- writer ---- */

typedef struct wmember {
    char *name;
    uint32_t crc, size;
    uint32_t off;
} wmember;

struct vkt_zip_writer {
    FILE *fp;
    size_t align;
    uint64_t pos;
    wmember *m;
    size_t n, cap;
};

vkt_status vkt_zip_writer_create(FILE *fp, size_t align, vkt_zip_writer **out, vkt_err *err)
{
    if (!align || align > 4096) return vkt_fail(err, VKT_ERR_USAGE, "zip writer: alignment %zu", align);
    vkt_zip_writer *w = vkt_calloc(1, sizeof *w);
    if (!w) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    w->fp = fp;
    w->align = align;
    *out = w;
    return VKT_OK;
}

void vkt_zip_writer_destroy(vkt_zip_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) free(w->m[i].name);
    free(w->m);
    free(w);
}

static bool put(vkt_zip_writer *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->fp) != n) return false;
    w->pos += n;
    return true;
}

vkt_status vkt_zip_writer_add(vkt_zip_writer *w, const char *name, const void *data, size_t n, vkt_err *err)
{
    size_t nlen = strlen(name);
    if (!name_safe((const uint8_t *)name, nlen) || nlen > 0xffff)
        return vkt_fail(err, VKT_ERR_USAGE, "zip writer: bad member name \"%.80s\"", name);
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        wmember *m = vkt_realloc(w->m, cap * sizeof *m);
        if (!m) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
        w->m = m;
        w->cap = cap;
    }
    /* local header + name + optional "FB" padding field so the data lands on `align` */
    uint64_t hdr_end = w->pos + 30 + nlen, pad = 0;
    if (w->align > 1) {
        uint64_t with_field = hdr_end + 4;
        pad = (w->align - with_field % w->align) % w->align;
    }
    uint64_t data_off = hdr_end + (w->align > 1 ? 4 + pad : 0);
    if (data_off + n >= 0xffffffffu || n >= 0xffffffffu)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "zip writer: archive would exceed 4 GiB");
    wmember *m = &w->m[w->n];
    m->name = vkt_malloc(nlen + 1);
    if (!m->name) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    memcpy(m->name, name, nlen + 1);
    m->crc = crc_of(data, n);
    m->size = (uint32_t)n;
    m->off = (uint32_t)w->pos;
    w->n++;
    uint8_t h[30];
    vkt_wr_le32(h, SIG_LOCAL);
    vkt_wr_le16(h + 4, 20); /* version needed 2.0 */
    vkt_wr_le16(h + 6, 0);  /* flags */
    vkt_wr_le16(h + 8, 0);  /* STORED */
    vkt_wr_le16(h + 10, 0); /* time */
    vkt_wr_le16(h + 12, 0x21); /* date 1980-01-01 */
    vkt_wr_le32(h + 14, m->crc);
    vkt_wr_le32(h + 18, m->size);
    vkt_wr_le32(h + 22, m->size);
    vkt_wr_le16(h + 26, (uint16_t)nlen);
    vkt_wr_le16(h + 28, (uint16_t)(w->align > 1 ? 4 + pad : 0));
    bool ok = put(w, h, 30) && put(w, name, nlen);
    if (ok && w->align > 1) {
        uint8_t f[4] = {'F', 'B', 0, 0};
        vkt_wr_le16(f + 2, (uint16_t)pad);
        ok = put(w, f, 4);
        for (uint64_t i = 0; ok && i < pad; i++) ok = put(w, "Z", 1);
    }
    ok = ok && put(w, data, n);
    if (!ok) return vkt_fail(err, VKT_ERR_IO, "zip writer: write failed");
    return VKT_OK;
}

vkt_status vkt_zip_writer_finish(vkt_zip_writer *w, vkt_err *err)
{
    uint64_t cd_off = w->pos;
    bool ok = true;
    for (size_t i = 0; ok && i < w->n; i++) {
        const wmember *m = &w->m[i];
        size_t nlen = strlen(m->name);
        uint8_t c[46];
        memset(c, 0, sizeof c);
        vkt_wr_le32(c, SIG_CENTRAL);
        vkt_wr_le16(c + 4, 20); /* made by: MS-DOS, 2.0 */
        vkt_wr_le16(c + 6, 20);
        vkt_wr_le16(c + 12, 0);
        vkt_wr_le16(c + 14, 0x21);
        vkt_wr_le32(c + 16, m->crc);
        vkt_wr_le32(c + 20, m->size);
        vkt_wr_le32(c + 24, m->size);
        vkt_wr_le16(c + 28, (uint16_t)nlen);
        vkt_wr_le32(c + 42, m->off);
        ok = put(w, c, 46) && put(w, m->name, nlen);
    }
    uint64_t cd_size = w->pos - cd_off;
    if (w->n > 0xfffe || w->pos >= 0xffffffffu)
        return vkt_fail(err, VKT_ERR_UNSUPPORTED, "zip writer: archive too large for a plain zip");
    uint8_t e[22];
    memset(e, 0, sizeof e);
    vkt_wr_le32(e, SIG_EOCD);
    vkt_wr_le16(e + 8, (uint16_t)w->n);
    vkt_wr_le16(e + 10, (uint16_t)w->n);
    vkt_wr_le32(e + 12, (uint32_t)cd_size);
    vkt_wr_le32(e + 16, (uint32_t)cd_off);
    ok = ok && put(w, e, 22);
    if (!ok) return vkt_fail(err, VKT_ERR_IO, "zip writer: write failed");
    return VKT_OK;
}
