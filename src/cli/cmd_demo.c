/* `vktrain demo`: the main job on the built-in tiny model. Until textual-inversion training
 * lands (issue #7) it proves the device with the selftest. */
#include <stdio.h>

#include "cli/cli.h"

static const char *HELP =
    "usage: vktrain demo [--device N|NAME]\n\n"
    "Runs vktrain's main job on the built-in tiny model. For now this is `vktrain selftest`\n"
    "(training lands with issue #7).\n\n"
    "options:\n"
    "  --device D   device index or name substring\n\n"
    "example:\n  vktrain demo\n";

int vkt_cmd_demo(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (vkt_cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return 0;
        }
    argv[0] = "selftest";
    return vkt_cmd_selftest(argc, argv);
}
