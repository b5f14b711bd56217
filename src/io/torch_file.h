/* PyTorch zip checkpoints (.pt, .ckpt, .bin written by torch.save >= 1.6): maps the file, reads
 * the zip, unpickles <dir>/data.pkl with the restricted unpickler and resolves storages to the
 * <dir>/data/<key> members, so tensors point straight into the map. Legacy (pre-zip) files are
 * recognised and refused. Knows nothing of Vulkan.
 *
 *   vkt_torch *t;
 *   if (vkt_torch_open("emb.pt", 0, &t, &err)) return err.code;
 *   const vkt_py *root = vkt_torch_root(t);
 *   ... vkt_py_get(root, "string_to_param") ...
 *   vkt_torch_close(t);
 */
#ifndef VKT_IO_TORCH_FILE_H
#define VKT_IO_TORCH_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "io/pickle.h"

/* Flags for vkt_torch_open. */
#define VKT_TORCH_SKIP_CRC 1u /* do not CRC-check storage members (data.pkl is always checked) */

typedef struct vkt_torch vkt_torch;

/* Opens path. Errors: VKT_ERR_IO, VKT_ERR_FORMAT (damaged, hostile: the message names the
 * refused global / member / check), VKT_ERR_UNSUPPORTED (legacy format, big-endian, ...). */
vkt_status vkt_torch_open(const char *path, unsigned flags, vkt_torch **out, vkt_err *err);
/* Same over a caller's buffer (borrowed: must outlive the result). */
vkt_status vkt_torch_open_memory(const uint8_t *data, size_t size, const char *label, unsigned flags,
                                 vkt_torch **out, vkt_err *err);
void vkt_torch_close(vkt_torch *t);

/* The unpickled object. */
const vkt_py *vkt_torch_root(const vkt_torch *t);
/* The archive's folder name ("archive", "myemb", ...). */
const char *vkt_torch_prefix(const vkt_torch *t);
/* Whether the webui's safe loader would accept the file: member names only <dir>/data.pkl,
 * <dir>/version, <dir>/data/<n> (exactly one data.pkl) and only globals from its allowlist.
 * When not, why (may be NULL) receives the culprit. */
bool vkt_torch_webui_ok(const vkt_torch *t, char *why, size_t why_n);

/* True when data looks like a legacy (pre-1.6, non-zip) torch.save file. */
bool vkt_torch_is_legacy(const uint8_t *data, size_t size);

#endif
