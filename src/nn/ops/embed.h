/* Token-embedding gather with learned-vector overrides (shaders/embed.comp): the CLIP token
 * embedding lookup, where textual inversion replaces some positions by trained vectors.
 *
 *   // ids, src: i32 [B, T]; src[b,t] = j >= 0 puts vectors[j] at (b, t), -1 keeps the table row
 *   vkt_op_embed_fwd(s, &ids, &table, &src, &vectors, &y, &err);         // y: [B, T, D]
 *   vkt_op_embed_bwd_vectors(s, &src, &dy, &dvectors, VKT_GRAD_ACCUMULATE, &err);
 *
 * Textual inversion needs only vkt_op_embed_bwd_vectors (cost J*D*P); the full table gradient
 * (vkt_op_embed_bwd_table) exists for training the table itself.
 *
 * Binding limit: a table larger than maxStorageBufferRange (lavapipe 128 MiB; SD1's 49408 x 768
 * f32 table is 151.8 MB) is bound as two ranges split at a row boundary, so tables up to twice
 * the limit work in f32 (and a f16 table halves the size). Beyond that the ops fail with
 * VKT_ERR_UNSUPPORTED and a message that says so.
 */
#ifndef VKT_NN_OPS_EMBED_H
#define VKT_NN_OPS_EMBED_H

#include "nn/step.h"

/* y[p, :] = src[p] >= 0 ? vectors[src[p], :] : table[ids[p], :], p over the positions of ids.
 * ids: i32, any shape [..]; table: [V, D] f32 or f16 (f16 needs 16-bit storage); src: i32 of ids'
 * shape, or NULL for no overrides (then vectors may be NULL too); vectors: f32 [J, D]; y: [.., D]
 * with table's dtype. Ids outside [0, V) and vector indices outside [0, J) give zero rows (the
 * caller validates token ids; the GPU cannot report them). */
vkt_status vkt_op_embed_fwd(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *table, const vkt_tensor *src,
                            const vkt_tensor *vectors, vkt_tensor *y, vkt_err *err);

/* dvectors[j, :] (=|+=, by mode) sum over every position p with src[p] == j of dy[p, :].
 * src: i32 [..]; dy: [.., D] f32 or f16; dvectors: f32 [J, D]. Deterministic. */
vkt_status vkt_op_embed_bwd_vectors(vkt_step *s, const vkt_tensor *src, const vkt_tensor *dy,
                                    vkt_tensor *dvectors, vkt_grad_mode mode, vkt_err *err);

/* dtable[v, :] (=|+=) sum over positions p with ids[p] == v and no override at p of dy[p, :].
 * dtable: f32 [V, D]. OVERWRITE zeroes the whole of dtable first (rows no id hits become 0);
 * ACCUMULATE leaves them unchanged. src may be NULL. Deterministic; O(P^2) id compares. */
vkt_status vkt_op_embed_bwd_table(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *src, const vkt_tensor *dy,
                                  vkt_tensor *dtable, vkt_grad_mode mode, vkt_err *err);

/* The same two ops with the per-binding byte limit lowered to min(max_binding_bytes, device
 * limit); 0 means the device limit. Tests use it to exercise the two-range split. */
vkt_status vkt_op_embed_fwd_limit(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *table, const vkt_tensor *src,
                                  const vkt_tensor *vectors, vkt_tensor *y, uint64_t max_binding_bytes,
                                  vkt_err *err);
vkt_status vkt_op_embed_bwd_table_limit(vkt_step *s, const vkt_tensor *ids, const vkt_tensor *src,
                                        const vkt_tensor *dy, vkt_tensor *dtable, vkt_grad_mode mode,
                                        uint64_t max_binding_bytes, vkt_err *err);

#endif
