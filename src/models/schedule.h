/* The DDPM noise schedule of SD1 ("scaled linear" betas), computed in double exactly as the
 * spec's formulas (sd1-architecture.md §5), plus the twelve buffers LDM checkpoints store. */
#ifndef VKT_MODELS_SCHEDULE_H
#define VKT_MODELS_SCHEDULE_H

#include <stddef.h>

#define VKT_SCHED_T 1000

typedef struct vkt_schedule {
    double betas[VKT_SCHED_T];
    double alphas_cumprod[VKT_SCHED_T];
} vkt_schedule;

/* linear_start 0.00085, linear_end 0.012 for SD1. */
void vkt_schedule_init(vkt_schedule *s, double linear_start, double linear_end);

/* Names of the 12 LDM buffers in checkpoint order and their values (double, length 1000). */
extern const char *const vkt_schedule_buffer_names[12];
/* Fills out[1000] with buffer `name`; returns 0, or -1 for an unknown name. */
int vkt_schedule_buffer(const vkt_schedule *s, const char *name, double *out);

#endif
