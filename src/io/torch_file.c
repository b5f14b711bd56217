/* torch.save zip files: zip + restricted unpickler + storages resolved into the map. Layout:
 * ../shared/spec/file-formats.md section 3. Depends on base, zlib (through io/zip). */
#include "io/torch_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/file.h"
#include "io/zip.h"

struct vkt_torch {
    vkt_mmap map; /* owned when opened from a path */
    vkt_zip *zip;
    vkt_pickle *pk;
    char prefix[256];
    char label[256];
    unsigned flags;
    bool names_ok;
    char why[300];
};

bool vkt_torch_is_legacy(const uint8_t *d, size_t n)
{
    /* legacy files start with the pickled magic number 0x1950a86a20f9469cfc6c (LONG1) */
    static const uint8_t magic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
    return n >= sizeof magic && memcmp(d, magic, sizeof magic) == 0;
}

static bool digits_only(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return false;
    return true;
}

static vkt_status resolve(void *ctx, const char *key, const uint8_t **data, size_t *size, vkt_err *err)
{
    vkt_torch *t = ctx;
    char name[600];
    for (const char *p = key; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
            return vkt_fail(err, VKT_ERR_FORMAT, "%s: storage key \"%.40s\" has unexpected characters", t->label, key);
    if (snprintf(name, sizeof name, "%s/data/%s", t->prefix, key) >= (int)sizeof name)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: storage key too long", t->label);
    const vkt_zip_entry *e = vkt_zip_find(t->zip, name);
    if (!e) return vkt_fail(err, VKT_ERR_FORMAT, "%s: storage \"%s\" has no member %s", t->label, key, name);
    vkt_status s = vkt_zip_read(t->zip, e, !(t->flags & VKT_TORCH_SKIP_CRC), data, size, err);
    if (s) return s;
    return VKT_OK;
}

static vkt_status parse(vkt_torch *t, const uint8_t *d, size_t n, vkt_err *err)
{
    const char *lb = t->label;
    if (!vkt_zip_is_zip(d, n)) {
        if (vkt_torch_is_legacy(d, n))
            return vkt_fail(err, VKT_ERR_UNSUPPORTED,
                            "%s: legacy (pre-1.6) PyTorch format, not supported: re-save it with torch.save in a "
                            "current PyTorch",
                            lb);
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: not a PyTorch zip file", lb);
    }
    vkt_status s = vkt_zip_open(d, n, lb, &t->zip, err);
    if (s) return s;
    /* the one <dir>/data.pkl decides the folder name */
    const vkt_zip_entry *pkl = NULL;
    t->names_ok = true;
    size_t n_pkl = 0;
    for (size_t i = 0; i < vkt_zip_count(t->zip); i++) {
        const char *nm = vkt_zip_entry_at(t->zip, i)->name, *slash = strchr(nm, '/');
        if (slash && strcmp(slash, "/data.pkl") == 0) {
            n_pkl++;
            pkl = vkt_zip_entry_at(t->zip, i);
        }
    }
    if (n_pkl != 1)
        return vkt_fail(err, VKT_ERR_FORMAT, "%s: %zu <dir>/data.pkl members, expected exactly one", lb, n_pkl);
    size_t plen = (size_t)(strchr(pkl->name, '/') - pkl->name);
    if (plen >= sizeof t->prefix) return vkt_fail(err, VKT_ERR_FORMAT, "%s: archive folder name too long", lb);
    memcpy(t->prefix, pkl->name, plen);
    t->prefix[plen] = 0;
    /* the webui's member-name rule: ^[^/]+/(data/\d+|version|data\.pkl)$ */
    for (size_t i = 0; i < vkt_zip_count(t->zip) && t->names_ok; i++) {
        const char *nm = vkt_zip_entry_at(t->zip, i)->name, *slash = strchr(nm, '/');
        bool ok = slash && slash != nm &&
                  (strcmp(slash, "/data.pkl") == 0 || strcmp(slash, "/version") == 0 ||
                   (strncmp(slash, "/data/", 6) == 0 && digits_only(slash + 6)));
        if (!ok) {
            t->names_ok = false;
            snprintf(t->why, sizeof t->why, "member \"%.200s\"", nm);
        }
    }
    char bo[300];
    snprintf(bo, sizeof bo, "%s/byteorder", t->prefix);
    const vkt_zip_entry *be = vkt_zip_find(t->zip, bo);
    if (be) {
        const uint8_t *p;
        size_t pn;
        if ((s = vkt_zip_read(t->zip, be, true, &p, &pn, err))) return s;
        if (!(pn == 6 && memcmp(p, "little", 6) == 0))
            return vkt_fail(err, VKT_ERR_UNSUPPORTED, "%s: byte order \"%.*s\" not supported", lb, (int)(pn < 16 ? pn : 16), p);
    }
    const uint8_t *pp;
    size_t pn;
    if ((s = vkt_zip_read(t->zip, pkl, true, &pp, &pn, err))) return s;
    if ((s = vkt_pickle_load(pp, pn, lb, resolve, t, &t->pk, err))) return s;
    return VKT_OK;
}

static vkt_status open_common(vkt_torch *t, const uint8_t *d, size_t n, const char *label, unsigned flags,
                              vkt_torch **out, vkt_err *err)
{
    snprintf(t->label, sizeof t->label, "%s", label ? label : "torch file");
    t->flags = flags;
    vkt_status s = parse(t, d, n, err);
    if (s) {
        vkt_torch_close(t);
        return s;
    }
    *out = t;
    return VKT_OK;
}

vkt_status vkt_torch_open_memory(const uint8_t *data, size_t size, const char *label, unsigned flags,
                                 vkt_torch **out, vkt_err *err)
{
    vkt_torch *t = vkt_calloc(1, sizeof *t);
    if (!t) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    return open_common(t, data, size, label, flags, out, err);
}

vkt_status vkt_torch_open(const char *path, unsigned flags, vkt_torch **out, vkt_err *err)
{
    vkt_torch *t = vkt_calloc(1, sizeof *t);
    if (!t) return vkt_fail(err, VKT_ERR_NOMEM, "out of memory");
    vkt_status s = vkt_mmap_open(path, &t->map, err);
    if (s) {
        free(t);
        return s;
    }
    return open_common(t, t->map.data, t->map.size, path, flags, out, err);
}

void vkt_torch_close(vkt_torch *t)
{
    if (!t) return;
    vkt_pickle_free(t->pk);
    vkt_zip_close(t->zip);
    vkt_mmap_close(&t->map);
    free(t);
}

const vkt_py *vkt_torch_root(const vkt_torch *t) { return vkt_pickle_root(t->pk); }
const char *vkt_torch_prefix(const vkt_torch *t) { return t->prefix; }

bool vkt_torch_webui_ok(const vkt_torch *t, char *why, size_t why_n)
{
    if (!t->names_ok) {
        if (why && why_n) snprintf(why, why_n, "%s", t->why);
        return false;
    }
    return vkt_pickle_webui_ok(t->pk, why, why_n);
}
