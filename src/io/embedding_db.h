/* A folder of textual-inversion embeddings loaded the way the webui's EmbeddingDatabase does
 * (file-formats.md §4.2): recursive walk following links, zero-byte files skipped, every form
 * io/embedding_file reads, trigger word = file stem (images: the stored name), embeddings whose
 * width differs from the model's skipped with a note, a later file with the same trigger word
 * replacing an earlier one (noted), unreadable files noted — none of it fatal. Registering the
 * names with the prompt parser is train/embedding_names' job. Knows nothing of Vulkan.
 *
 *   vkt_embedding_db *db;
 *   vkt_embedding_db_create(&db, &err);
 *   if (vkt_embedding_db_load_dir(db, "embeddings", 768, &err)) ...   // only a bad DIR fails
 *   for (size_t i = 0; i < db->n_notes; i++) warn(db->notes[i].path, db->notes[i].msg);
 *   for (size_t i = 0; i < db->n; i++) use(db->embs[i]->name, db->embs[i]->n_vectors);
 *   vkt_embedding_db_destroy(db);
 */
#ifndef VKT_IO_EMBEDDING_DB_H
#define VKT_IO_EMBEDDING_DB_H

#include <stddef.h>

#include "base/err.h"
#include "io/embedding_file.h"

typedef enum vkt_embedding_note_kind {
    VKT_EMB_NOTE_ERROR,    /* the file could not be read (message says why) */
    VKT_EMB_NOTE_SKIPPED,  /* read, but unusable here (wrong width, NaN, too many vectors, ...) */
    VKT_EMB_NOTE_REPLACED, /* a later file with the same trigger word took its place */
} vkt_embedding_note_kind;

typedef struct vkt_embedding_note {
    vkt_embedding_note_kind kind;
    char *path; /* owned: the file concerned */
    char *msg;  /* owned: one line, without the path */
} vkt_embedding_note;

typedef struct vkt_embedding_db {
    /* Loaded embeddings in registration order (a replacing file goes to the end, as the webui
     * re-registers it); each owned, with the file it came from. */
    vkt_embedding **embs;
    char **paths;
    size_t n;
    vkt_embedding_note *notes; /* in the order they happened */
    size_t n_notes;
} vkt_embedding_db;

vkt_status vkt_embedding_db_create(vkt_embedding_db **out, vkt_err *err);
void vkt_embedding_db_destroy(vkt_embedding_db *db);

/* Loads every embedding under dir (files of a folder in byte order of their names, then its
 * sub-folders in that order; links followed, cycles and more than 32 levels not). Embeddings
 * whose webui shape (vkt_embedding_file_shape) is not expected_width are skipped (expected_width
 * <= 0: any width). Fails only when dir cannot be opened as a folder (VKT_ERR_IO) or on host OOM;
 * everything else becomes a note. */
vkt_status vkt_embedding_db_load_dir(vkt_embedding_db *db, const char *dir, int expected_width,
                                     vkt_err *err);
/* Adds one embedding (ownership passes to db, also on failure) read from path, with the same
 * rules: wrong width or non-finite values -> skipped note (e destroyed), an existing trigger word
 * -> replaced note. Fails only on host OOM. */
vkt_status vkt_embedding_db_add(vkt_embedding_db *db, vkt_embedding *e, const char *path,
                                int expected_width, vkt_err *err);
/* Removes entry i (destroying it) and notes why as SKIPPED (for rules applied later, such as a
 * trigger word the tokenizer cannot place). */
vkt_status vkt_embedding_db_drop(vkt_embedding_db *db, size_t i, const char *why, vkt_err *err);
/* Adds a note (path and message copied). */
vkt_status vkt_embedding_db_note(vkt_embedding_db *db, vkt_embedding_note_kind kind,
                                 const char *path, const char *msg, vkt_err *err);
/* The loaded embedding with this trigger word, or NULL. */
const vkt_embedding *vkt_embedding_db_find(const vkt_embedding_db *db, const char *name);
/* "error", "skipped", "replaced". */
const char *vkt_embedding_db_note_kind_name(vkt_embedding_note_kind k);

#endif
