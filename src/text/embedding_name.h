/* Names of new embeddings as the webui's Create-embedding tab cleans them
 * (textual_inversion.py create_embedding(): keep characters that are alphanumeric in Python's
 * sense, or one of ". _ -" and space). Knows nothing of files or Vulkan; uses utf8proc.
 *
 *   char *clean;
 *   if (vkt_embedding_name_sanitize("my/cat?", &clean, &err) == VKT_OK) use(clean); // "mycat"
 *   free(clean);
 */
#ifndef VKT_TEXT_EMBEDDING_NAME_H
#define VKT_TEXT_EMBEDDING_NAME_H

#include "base/err.h"

/* Copies the characters of name (UTF-8) for which Python's str.isalnum() is true (Unicode
 * letters L* and numbers N*) or that are '.', '_', '-' or ' ' into a malloc'd string. Fails
 * (VKT_ERR_USAGE) on invalid UTF-8 or when nothing is left (the webui would then write ".pt"). */
vkt_status vkt_embedding_name_sanitize(const char *name, char **out, vkt_err *err);

#endif
