/* text/template: the six embedded webui templates, line rules, [name]/[filewords], the TI check,
 * captions from .txt files and file names. Expectations worked out by hand from
 * ../shared/spec/training.md §4.5 and ../shared/spec/templates/README.md. */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "testkit.h"
#include "text/template.h"

static void test_embedded(void)
{
    struct {
        const char *name;
        size_t lines;
        int has_name;
    } rows[] = {
        {"style", 19, 1},        {"style_filewords", 19, 1},
        {"subject", 27, 1},      {"subject_filewords.txt", 27, 1},
        {"hypernetwork", 27, 0}, {"none", 1, 0},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        vkt_template *t = NULL;
        vkt_err err = {0};
        vkt_status st = vkt_template_load(rows[i].name, &t, &err);
        TK_CHECK(st == VKT_OK && t->n_lines == rows[i].lines, "%s: %s, %zu lines", rows[i].name,
                 err.msg, t ? t->n_lines : 0);
        if (!t) continue;
        st = vkt_template_check_ti(t, &err);
        TK_CHECK(rows[i].has_name ? st == VKT_OK : st == VKT_ERR_USAGE && strstr(err.msg, "[name]"),
                 "%s: TI check %d %s", rows[i].name, st, err.msg);
        vkt_template_destroy(t);
    }
    vkt_template *t = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_template_load("none", &t, &err) == VKT_OK && strcmp(t->lines[0], "picture") == 0,
             "none.txt");
    vkt_template_destroy(t);
    t = NULL;
    TK_CHECK(vkt_template_load("subject_filewords", &t, &err) == VKT_OK &&
                 strcmp(t->lines[0], "a photo of a [name], [filewords]") == 0,
             "subject_filewords line 1: %s", t ? t->lines[0] : err.msg);
    vkt_template_destroy(t);
    t = NULL;
    TK_CHECK(vkt_template_load("no_such_template", &t, &err) == VKT_ERR_IO && t == NULL &&
                 strstr(err.msg, "built-in"),
             "unknown name: %s", err.msg);
}

static void test_lines(void)
{
    vkt_template *t = NULL;
    vkt_err err = {0};
    /* \r\n, \r and \n end lines; lines are stripped (also U+3000); blank lines stay; no line is
     * added after a final newline */
    const char *text = "  a [name]\t\r\n\r\nb [filewords]\rc\xe3\x80\x80\n\n";
    TK_CHECK(vkt_template_parse(text, strlen(text), "t", &t, &err) == VKT_OK && t->n_lines == 5,
             "parse: %s", err.msg);
    if (t) {
        const char *want[] = {"a [name]", "", "b [filewords]", "c", ""};
        for (size_t i = 0; i < 5 && i < t->n_lines; i++)
            TK_CHECK(strcmp(t->lines[i], want[i]) == 0, "line %zu: \"%s\"", i, t->lines[i]);
    }
    vkt_template_destroy(t);
    t = NULL;
    TK_CHECK(vkt_template_parse("x", 1, "t", &t, &err) == VKT_OK && t->n_lines == 1,
             "no final newline");
    vkt_template_destroy(t);
    t = NULL;
    TK_CHECK(vkt_template_parse("", 0, "t", &t, &err) == VKT_ERR_FORMAT && !t, "empty template");
    TK_CHECK(vkt_template_parse("a\xff\n", 3, "t", &t, &err) == VKT_ERR_FORMAT && !t,
             "invalid UTF-8");
    /* from a file path */
    const char *dir = tk_tmpdir("template");
    char path[2100];
    snprintf(path, sizeof path, "%s/mine.txt", dir);
    TK_CHECK(vkt_write_file(path, "one [name]\ntwo\n", 15, &err) == VKT_OK, "write");
    TK_CHECK(vkt_template_load(path, &t, &err) == VKT_OK && t->n_lines == 2 &&
                 strcmp(t->lines[1], "two") == 0,
             "file template: %s", err.msg);
    vkt_template_destroy(t);
}

static void test_render(void)
{
    char *p = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_template_render("a photo of a [name], [filewords]", "myemb", "cat, red", &p,
                                 &err) == VKT_OK &&
                 strcmp(p, "a photo of a myemb, cat, red") == 0,
             "render: %s", p ? p : "(null)");
    free(p);
    /* [filewords] first: a caption holding [name] gets the name too; every occurrence */
    TK_CHECK(vkt_template_render("[filewords] [name] [name]", "N", "x [name]", &p, &err) ==
                     VKT_OK &&
                 strcmp(p, "x N N N") == 0,
             "order: %s", p ? p : "(null)");
    free(p);
    TK_CHECK(vkt_template_render("[name] [filewords]", NULL, NULL, &p, &err) == VKT_OK &&
                 strcmp(p, "[name] [filewords]") == 0,
             "NULL leaves placeholders");
    free(p);
}

static void expect_fw(const char *file, const char *regex, const char *join, const char *want)
{
    char *got = NULL;
    vkt_err err = {0};
    vkt_status st = vkt_filewords_from_filename(file, regex, join, &got, &err);
    TK_CHECK(st == VKT_OK && strcmp(got, want) == 0,
             "filewords(\"%s\", %s): \"%s\" (%s), want \"%s\"", file, regex ? regex : "-",
             got ? got : "", err.msg, want);
    free(got);
}

static void test_filewords(void)
{
    expect_fw("000001-1-a man in suit.png", NULL, NULL, "a man in suit");
    expect_fw("1girl, red.png", NULL, NULL, "girl, red");
    expect_fw("dir/12 - x.y.jpg", NULL, NULL, "- x.y"); /* "12", one space; the dash stays */
    expect_fw("photo of a cat 2.png", NULL, NULL, "photo of a cat 2");
    expect_fw(".hidden", NULL, NULL, ".hidden");
    expect_fw("noext", NULL, NULL, "noext");
    expect_fw("\xd9\xa3\xd9\xa4-cat.webp", NULL, NULL, "cat"); /* Arabic-Indic digits are \d */
    expect_fw("123.png", NULL, NULL, "");
    expect_fw("a_b-c.png", "[a-z]+", " ", "a b c");
    expect_fw("ab.png", "x*", "-", "--"); /* findall: three empty matches */
    expect_fw("tag1 tag2.png", "\\w+", ",", "tag1,tag2");
    char *got = NULL;
    vkt_err err = {0};
    TK_CHECK(vkt_filewords_from_filename("a.png", "(", " ", &got, &err) == VKT_ERR_USAGE,
             "bad regex: %s", err.msg);
    TK_CHECK(vkt_filewords_from_filename("a\xff.png", NULL, NULL, &got, &err) == VKT_ERR_FORMAT,
             "bad UTF-8 name");

    const char *dir = tk_tmpdir("filewords");
    char img[2100], txt[2100];
    snprintf(img, sizeof img, "%s/0001-a dog.png", dir);
    TK_CHECK(vkt_filewords_for_image(img, NULL, NULL, &got, &err) == VKT_OK &&
                 strcmp(got, "a dog") == 0,
             "no caption file: %s", got ? got : "(null)");
    free(got);
    snprintf(txt, sizeof txt, "%s/0001-a dog.txt", dir);
    TK_CHECK(vkt_write_file(txt, " a cat,\r\nsitting\r ", 18, &err) == VKT_OK, "write caption");
    got = NULL;
    TK_CHECK(vkt_filewords_for_image(img, "[a-z]+", " ", &got, &err) == VKT_OK &&
                 strcmp(got, " a cat,\nsitting\n ") == 0,
             "caption file wins, unstripped: \"%s\"", got ? got : "(null)");
    free(got);
    TK_CHECK(vkt_write_file(txt, "bad \xc3", 5, &err) == VKT_OK, "write bad caption");
    got = NULL;
    TK_CHECK(vkt_filewords_for_image(img, NULL, NULL, &got, &err) == VKT_ERR_FORMAT && !got,
             "bad caption UTF-8");
}

int main(void)
{
    test_embedded();
    test_lines();
    test_render();
    test_filewords();
    return tk_finish("text.template");
}
