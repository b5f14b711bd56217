/* The vktrain command: subcommands and shared argument helpers. Only cli/ turns statuses into
 * exit codes (0 ok, 1 failure, 2 usage, 130 interrupted). */
#ifndef VKT_CLI_CLI_H
#define VKT_CLI_CLI_H

#include <stdbool.h>

#include "base/err.h"

/* Each subcommand gets argv after its own name (argv[0] is the subcommand name). */
typedef int (*vkt_cli_fn)(int argc, char **argv);

typedef struct vkt_cli_cmd {
    const char *name;
    vkt_cli_fn fn;
    const char *summary;
} vkt_cli_cmd;

int vkt_cmd_devices(int argc, char **argv);
int vkt_cmd_selftest(int argc, char **argv);
int vkt_cmd_demo(int argc, char **argv);
int vkt_cmd_info(int argc, char **argv);
int vkt_cmd_bench(int argc, char **argv);
int vkt_cmd_make_tiny_model(int argc, char **argv);
int vkt_cmd_compare(int argc, char **argv);
int vkt_cmd_eval(int argc, char **argv);
int vkt_cmd_embedding_train(int argc, char **argv);
int vkt_cmd_hypernetwork_train(int argc, char **argv);
int vkt_cmd_tokenize(int argc, char **argv);
int vkt_cmd_embedding(int argc, char **argv);
int vkt_cmd_sample(int argc, char **argv);
int vkt_cmd_hypernetwork(int argc, char **argv);

/* Prints "vktrain: error: <msg>" and returns the exit code for err->code. */
int vkt_cli_fail(const vkt_err *err);
/* Prints "vktrain: error: <fmt...>" plus a hint to --help; returns 2. */
int vkt_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vkt_cli_exit_code(vkt_status st);

/* Option scanning: for argv[*i] == "--name VALUE" or "--name=VALUE", sets *value, advances *i
 * past the value and returns true. Returns false (not consumed) otherwise. *missing is set when
 * the option is present but has no value. */
bool vkt_cli_opt(int argc, char **argv, int *i, const char *name, const char **value, bool *missing);
bool vkt_cli_flag(char **argv, int i, const char *name);
bool vkt_cli_is_help(const char *arg);

/* --json output: prints root (cJSON_Print's indented form and a newline) and deletes it. */
struct cJSON;
void vkt_cli_print_json(struct cJSON *root);

#endif
