/* Embedding gather and scatter-add in double. */
#include "nn/ref/embed_ref.h"

#include <string.h>

void vkt_ref_embed_fwd(const int32_t *ids, const int32_t *src, size_t P, const double *table, int64_t V,
                       const double *vectors, int64_t J, int64_t D, double *y)
{
    for (size_t p = 0; p < P; p++) {
        int32_t j = src ? src[p] : -1;
        const double *row = NULL;
        if (j >= 0) row = j < J ? vectors + (size_t)j * (size_t)D : NULL;
        else row = ids[p] >= 0 && ids[p] < V ? table + (size_t)ids[p] * (size_t)D : NULL;
        for (int64_t d = 0; d < D; d++) y[p * (size_t)D + (size_t)d] = row ? row[d] : 0.0;
    }
}

void vkt_ref_embed_bwd(const int32_t *ids, const int32_t *src, size_t P, int64_t V, int64_t J, int64_t D,
                       const double *dy, double *dtable, double *dvectors)
{
    if (dtable) memset(dtable, 0, (size_t)(V * D) * sizeof *dtable);
    if (dvectors) memset(dvectors, 0, (size_t)(J * D) * sizeof *dvectors);
    for (size_t p = 0; p < P; p++) {
        int32_t j = src ? src[p] : -1;
        double *row = NULL;
        if (j >= 0) row = dvectors && j < J ? dvectors + (size_t)j * (size_t)D : NULL;
        else row = dtable && ids[p] >= 0 && ids[p] < V ? dtable + (size_t)ids[p] * (size_t)D : NULL;
        for (int64_t d = 0; row && d < D; d++) row[d] += dy[p * (size_t)D + (size_t)d];
    }
}
