/* The embedded SPIR-V of every shader variant this build has (generated at build time from
 * variants.cmake). Look a variant up by name with vkt_spv_find(). */
#ifndef VKT_SHADERS_H
#define VKT_SHADERS_H

typedef struct vkt_spv_blob {
    const char *name;              /* <family>_<fwd|bwd>_<dtype>[_<path>] */
    const unsigned char *code;     /* 4-byte aligned SPIR-V words */
    const unsigned long *size;     /* bytes */
} vkt_spv_blob;

extern const vkt_spv_blob vkt_spv_table[]; /* terminated by {0} */

#endif
