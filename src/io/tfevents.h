/* TensorBoard event files (what torch.utils.tensorboard.SummaryWriter writes): TFRecord framing
 * of hand-encoded tensorflow.Event protobufs holding scalars and PNG images. Knows nothing of
 * Vulkan; depends on base and io/image (PNG encoding) only.
 *
 *   // webui textual_inversion.py tensorboard_setup(): <run dir>/tensorboard
 *   vkt_tfevents *tb = NULL;
 *   if (vkt_tfevents_create("<run dir>/tensorboard", &tb, &err)) return err.code;
 *   // every step the webui logs (tensorboard_add()): 4 scalars
 *   vkt_tfevents_add_training(tb, loss, global_step, epoch_step, learn_rate, epoch, &err);
 *   // a preview (tensorboard_add_image()): tag "Validation at epoch <epoch>"
 *   vkt_tfevents_add_validation_image(tb, epoch, rgb, width, height, 3, global_step, &err);
 *   vkt_tfevents_destroy(tb);
 *
 * Each event is flushed (fflush) as soon as it is written, so a crashed run leaves a readable
 * file and TensorBoard sees new points at once; this makes the webui's flush interval
 * (training_tensorboard_flush_every) moot. tests/reference/read_tfevents.py reads these files
 * without TensorFlow.
 */
#ifndef VKT_IO_TFEVENTS_H
#define VKT_IO_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

typedef struct vkt_tfevents vkt_tfevents;

/* Creates dir (mkdir -p) and a new file events.out.tfevents.<unix seconds, 10 digits>.<host name>
 * in it (".1", ".2", ... appended if that name exists), whose first record is the file_version
 * event "brain.Event:2". *out is written only on success; release with vkt_tfevents_destroy.
 * Fails with VKT_ERR_IO naming the path that could not be created or written. */
vkt_status vkt_tfevents_create(const char *dir, vkt_tfevents **out, vkt_err *err);
/* Closes the file. NULL is a no-op. */
void vkt_tfevents_destroy(vkt_tfevents *w);
/* Path of the event file (borrowed, valid until destroy). */
const char *vkt_tfevents_path(const vkt_tfevents *w);

/* One scalar event: Summary.Value{tag, simple_value = (float)value} at step, with the current
 * wall time, as SummaryWriter.add_scalar writes it. tag: non-empty UTF-8. Fails with
 * VKT_ERR_USAGE for a bad tag, VKT_ERR_IO (naming the file) when the write or flush fails. */
vkt_status vkt_tfevents_add_scalar(vkt_tfevents *w, const char *tag, double value, int64_t step,
                                   vkt_err *err);

/* One image event: Summary.Value{tag, Image{height, width, colorspace = channels, PNG}} at step,
 * as SummaryWriter.add_image writes an 8-bit tensor. px: [height][width][channels] 8-bit,
 * top row first; channels 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA). Fails with
 * VKT_ERR_USAGE for a bad tag or size, VKT_ERR_NOMEM, or VKT_ERR_IO naming the file. */
vkt_status vkt_tfevents_add_image(vkt_tfevents *w, const char *tag, const uint8_t *px, int width,
                                  int height, int channels, int64_t step, vkt_err *err);

/* The webui's tensorboard_add() (textual_inversion.py): four scalars, in this order,
 *   "Loss/train" = loss at global_step,  "Loss/train/epoch-<epoch>" = loss at step,
 *   "Learn rate/train" = learn_rate at global_step,
 *   "Learn rate/train/epoch-<epoch>" = learn_rate at step,
 * where step is the step within the epoch (the webui's epoch_step). Stops at the first failure. */
vkt_status vkt_tfevents_add_training(vkt_tfevents *w, double loss, int64_t global_step,
                                     int64_t step, double learn_rate, int64_t epoch, vkt_err *err);

/* The webui's preview image (tensorboard_add_image()): tag "Validation at epoch <epoch>", at
 * step (the webui passes the embedding's step). Same contract as vkt_tfevents_add_image. */
vkt_status vkt_tfevents_add_validation_image(vkt_tfevents *w, int64_t epoch, const uint8_t *px,
                                             int width, int height, int channels, int64_t step,
                                             vkt_err *err);

/* Encoding only (tests, tools): the TFRecord bytes of one event at a given wall time (seconds
 * since 1970) and step: the file_version event "brain.Event:2" when tag is NULL (value and step
 * ignored), else a scalar as vkt_tfevents_add_scalar writes it. *out is malloc'd (free()) and
 * written only on success. Fails with VKT_ERR_USAGE for a bad tag, VKT_ERR_NOMEM. */
vkt_status vkt_tfevents_encode_record(double wall_time, int64_t step, const char *tag, double value,
                                      uint8_t **out, size_t *out_n, vkt_err *err);

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): crc32c("123456789") = 0xE3069283. */
uint32_t vkt_tfevents_crc32c(const void *data, size_t n);
/* TFRecord's masked CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32) of crc32c(data). */
uint32_t vkt_tfevents_masked_crc(const void *data, size_t n);

#endif
