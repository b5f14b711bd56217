/* Prompt templates and image captions ("filewords") for training, as the webui builds them
 * (../shared/spec/training.md §4.5, ../shared/spec/templates/README.md). Knows nothing of Vulkan.
 *
 *   vkt_template *t = NULL;
 *   vkt_template_load("style_filewords", &t, &err);          // embedded, or a file path
 *   vkt_template_check_ti(t, &err);                          // TI needs [name] somewhere
 *   char *caption = NULL, *prompt = NULL;
 *   vkt_filewords_for_image("data/000001-1-a man in suit.png", NULL, " ", &caption, &err);
 *   vkt_template_render(t->lines[k], "myemb", caption, &prompt, &err);
 *   free(prompt); free(caption); vkt_template_destroy(t);
 */
#ifndef VKT_TEXT_TEMPLATE_H
#define VKT_TEXT_TEMPLATE_H

#include <stddef.h>

#include "base/err.h"

typedef struct vkt_template {
    char name[256]; /* what it was loaded as, for messages */
    char **lines;   /* each line stripped of surrounding whitespace; empty lines kept */
    size_t n_lines; /* >= 1 */
} vkt_template;

/* Loads a template: `name_or_path` without a '/' is first looked up among the embedded templates
 * ("style", "style.txt", "subject_filewords", ...; the six webui defaults), otherwise it is read
 * as a file. Lines are split like Python's readlines() in text mode (\n, \r\n and \r end a line;
 * a final newline adds no empty line) and stripped with str.strip(). Fails on unreadable files,
 * invalid UTF-8 (VKT_ERR_FORMAT) and templates without lines (VKT_ERR_FORMAT). */
vkt_status vkt_template_load(const char *name_or_path, vkt_template **out, vkt_err *err);
/* Same from bytes; `name` is used in messages. */
vkt_status vkt_template_parse(const char *text, size_t len, const char *name, vkt_template **out,
                              vkt_err *err);
void vkt_template_destroy(vkt_template *t);

/* VKT_OK when some line contains "[name]"; otherwise VKT_ERR_USAGE saying that a textual-inversion
 * embedding would never appear in a prompt (hypernetwork.txt and none.txt have no [name]). */
vkt_status vkt_template_check_ti(const vkt_template *t, vkt_err *err);

/* prompt = line with every "[filewords]" replaced by filewords, then every "[name]" by name (in
 * that order, as the webui: a caption containing "[name]" gets the name too). filewords or name
 * may be NULL (left as is). *out is malloc'd. */
vkt_status vkt_template_render(const char *line, const char *name, const char *filewords,
                               char **out, vkt_err *err);

/* Caption of an image from its file name (the webui's rule): the base name without its extension,
 * a leading run of digits and dashes plus the whitespace after it removed (re `^[-\d]+\s*`);
 * then, when word_regex is non-empty, all its matches joined with `join` (NULL = ""). The word
 * regex is POSIX extended syntax with GNU \w \s \b, not Python's re: write it portably.
 * *out is malloc'd. Fails on invalid UTF-8 or a bad regex (VKT_ERR_USAGE). */
vkt_status vkt_filewords_from_filename(const char *filename, const char *word_regex,
                                       const char *join, char **out, vkt_err *err);

/* Caption of an image: the whole content of "<path without extension>.txt" when that file exists
 * (UTF-8, not stripped, line ends translated to \n as Python's text mode does), else
 * vkt_filewords_from_filename on the path's base name. */
vkt_status vkt_filewords_for_image(const char *image_path, const char *word_regex, const char *join,
                                   char **out, vkt_err *err);

#endif
