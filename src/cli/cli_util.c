/* Shared CLI helpers. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

int vkt_cli_exit_code(vkt_status st)
{
    switch (st) {
    case VKT_OK: return 0;
    case VKT_ERR_USAGE: return 2;
    case VKT_ERR_INTERRUPTED: return 130;
    default: return 1;
    }
}

int vkt_cli_fail(const vkt_err *err)
{
    fprintf(stderr, "vktrain: error: %s\n", err->msg[0] ? err->msg : vkt_status_str(err->code));
    return vkt_cli_exit_code(err->code ? err->code : VKT_ERR_INTERNAL);
}

int vkt_cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vktrain: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see `vktrain %s --help`)\n", cmd);
    return 2;
}

bool vkt_cli_is_help(const char *a) { return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0; }

bool vkt_cli_flag(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

bool vkt_cli_opt(int argc, char **argv, int *i, const char *name, const char **value, bool *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    *missing = false;
    if (strncmp(a, name, n) != 0) return false;
    if (a[n] == '=') {
        *value = a + n + 1;
        return true;
    }
    if (a[n] != 0) return false;
    if (*i + 1 >= argc) {
        *missing = true;
        return true;
    }
    *value = argv[++*i];
    return true;
}

void vkt_cli_print_json(cJSON *root)
{
    char *s = cJSON_Print(root);
    puts(s);
    free(s);
    cJSON_Delete(root);
}
