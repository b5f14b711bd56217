/* Files from assets/ embedded at build time (CLIP merges, prompt templates).
 *
 *   const vkt_asset *a = vkt_asset_find("templates/subject.txt");
 *   if (a) use(a->data, *a->size);
 */
#ifndef VKT_ASSETS_H
#define VKT_ASSETS_H

typedef struct vkt_asset {
    const char *name;           /* path relative to assets/, e.g. "templates/style.txt" */
    const unsigned char *data;  /* not NUL-terminated */
    const unsigned long *size;  /* bytes */
} vkt_asset;

extern const vkt_asset vkt_asset_table[]; /* terminated by {0} */

/* The asset with this name, or NULL. */
const vkt_asset *vkt_asset_find(const char *name);

#endif
