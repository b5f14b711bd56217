/* Log sink for progress and warnings (stderr by default). The one mutable global besides the
 * allocation fault hook. Library code logs here, never to stdout. */
#ifndef VKT_BASE_LOG_H
#define VKT_BASE_LOG_H

typedef enum { VKT_LOG_DEBUG, VKT_LOG_INFO, VKT_LOG_WARN } vkt_log_level;

/* Messages below this level are dropped (default INFO; VKTRAIN_LOG=debug lowers it). */
void vkt_log_set_level(vkt_log_level lvl);
void vkt_log(vkt_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
