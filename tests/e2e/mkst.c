/* Test helper: writes a safetensors file of 1-D F32 tensors given on the command line.
 * usage: mkst OUT NAME=v,v,v [NAME=...]   (a NAME ending in ":2x2" gets that 2-D shape) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int main(int argc, char **argv)
{
    if (argc < 2) return 2;
    vkt_err err = {0};
    vkt_safetensors_writer *w;
    if (vkt_safetensors_writer_create(&w, &err)) return 1;
    float *bufs[64];
    int nb = 0;
    for (int i = 2; i < argc && nb < 64; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) return 2;
        *eq = 0;
        int64_t shape[2] = {0, 0};
        int ndim = 1;
        char *colon = strchr(argv[i], ':');
        if (colon) {
            *colon = 0;
            if (sscanf(colon + 1, "%ldx%ld", &shape[0], &shape[1]) == 2) ndim = 2;
        }
        float *v = malloc(4096 * sizeof *v);
        int n = 0;
        for (char *tok = strtok(eq + 1, ","); tok && n < 4096; tok = strtok(NULL, ",")) v[n++] = strtof(tok, NULL);
        if (ndim == 1) shape[0] = n;
        bufs[nb++] = v;
        if (vkt_safetensors_writer_add(w, argv[i], VKT_IO_F32, ndim, shape, v, &err)) {
            fprintf(stderr, "mkst: %s\n", err.msg);
            return 1;
        }
    }
    int rc = vkt_safetensors_writer_write(w, argv[1], &err) ? 1 : 0;
    if (rc) fprintf(stderr, "mkst: %s\n", err.msg);
    vkt_safetensors_writer_destroy(w);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    return rc;
}
