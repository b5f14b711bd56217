/* `vktrain hypernetwork create`: the webui's Create hypernetwork tab (training.md §9.1). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "cli/cli.h"
#include "models/hypernetwork.h"
#include "text/embedding_name.h"

static const char *HELP =
    "usage: vktrain hypernetwork create NAME [--sizes 768,320,640,1280] [--layer-structure \"1, 2, "
    "1\"]\n"
    "           [--activation NAME] [--activate-output] [--weight-init SCHEME] [--layer-norm]\n"
    "           [--dropout] [--dropout-structure \"0, 0.3, 0\"] [--last-layer-dropout] [--seed N]\n"
    "           [--out DIR] [--overwrite]\n"
    "       vktrain hypernetwork train ...   (see `vktrain hypernetwork train --help`)\n\n"
    "Creates a new hypernetwork file DIR/NAME.pt that the webui loads: one pair of modules (k, v)\n"
    "per size, each a residual MLP m(x) = x + MLP(x) with the webui's layout, validation and\n"
    "initialisation. NAME keeps letters, digits and \"._- \" (the webui's filter).\n\n"
    "options:\n"
    "  --sizes LIST              module sizes (default 768,320,640,1280: SD1's context and "
    "widths;\n"
    "                            the webui offers 768, 1024, 320, 640, 1280; any size >= 1 is "
    "accepted)\n"
    "  --layer-structure TEXT    comma list of width multipliers, first and last 1 (default \"1, "
    "2, 1\")\n"
    "  --activation NAME         linear (default), relu, leakyrelu, elu, swish (= Hardswish, as in "
    "the\n"
    "                            webui), tanh, sigmoid, silu, gelu, mish, softplus, celu, selu, "
    "relu6,\n"
    "                            hardtanh, hardsigmoid, softsign, tanhshrink, logsigmoid, "
    "hardshrink,\n"
    "                            softshrink\n"
    "  --activate-output         also apply the activation after the last Linear (the webui's "
    "Create tab\n"
    "                            always writes False; this is for files made elsewhere)\n"
    "  --weight-init SCHEME      Normal (default: N(0, 0.01^2)), XavierUniform, XavierNormal,\n"
    "                            KaimingUniform, KaimingNormal; biases 0; LayerNorm weight N(0, "
    "0.01^2)\n"
    "  --layer-norm              a LayerNorm after every Linear\n"
    "  --dropout                 use dropout (training only)\n"
    "  --dropout-structure TEXT  dropout probability per layer-structure entry, first and last 0,\n"
    "                            each below 1 (needs --dropout). Without it, --dropout gives the\n"
    "                            webui's derived structure [0, 0.3, ..., 0.3, x, 0] with x = 0.3 "
    "only\n"
    "                            with --last-layer-dropout (so \"1, 2, 1\" gets no dropout at "
    "all)\n"
    "  --last-layer-dropout      see --dropout-structure\n"
    "  --seed N                  weight-init seed (default: from the clock; printed). vktrain "
    "draws\n"
    "                            from its own generator, so the numbers differ from the webui's\n"
    "  --out DIR                 folder to write to, created if missing (default hypernetworks)\n"
    "  --overwrite               replace an existing DIR/NAME.pt\n\n"
    "example:\n  vktrain hypernetwork create anime --layer-structure \"1, 1.5, 1\" --activation "
    "relu --layer-norm\n";

static bool parse_sizes(const char *text, int64_t *out, int max, int *n)
{
    double v[VKT_HN_MAX_SIZES + 1];
    vkt_err err = {0};
    if (vkt_hn_parse_list(text, v, max, n, &err)) return false;
    for (int i = 0; i < *n; i++) {
        if (v[i] != (double)(int64_t)v[i] || v[i] < 1) return false;
        out[i] = (int64_t)v[i];
    }
    return true;
}

static uint64_t clock_seed(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t s =
        (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
    return s & 0xFFFFFFFFFFFFull; /* 48 bits: short enough to retype */
}

static int cmd_create(int argc, char **argv)
{
    const char *name = NULL, *sizes_text = "768,320,640,1280", *ls_text = "1, 2, 1",
               *act = "linear", *init = "Normal", *ds_text = NULL, *out_dir = "hypernetworks",
               *seed_text = NULL;
    bool activate_output = false, layer_norm = false, dropout = false, lld = false,
         overwrite = false;
    for (int i = 1; i < argc; i++) {
        const char *v;
        bool missing = false;
        if (vkt_cli_is_help(argv[i])) {
            fputs(HELP, stdout);
            return 0;
        }
        if (vkt_cli_opt(argc, argv, &i, "--sizes", &v, &missing))
            sizes_text = v;
        else if (vkt_cli_opt(argc, argv, &i, "--layer-structure", &v, &missing))
            ls_text = v;
        else if (vkt_cli_opt(argc, argv, &i, "--activation", &v, &missing))
            act = v;
        else if (vkt_cli_opt(argc, argv, &i, "--weight-init", &v, &missing))
            init = v;
        else if (vkt_cli_opt(argc, argv, &i, "--dropout-structure", &v, &missing))
            ds_text = v;
        else if (vkt_cli_opt(argc, argv, &i, "--out", &v, &missing))
            out_dir = v;
        else if (vkt_cli_opt(argc, argv, &i, "--seed", &v, &missing))
            seed_text = v;
        else if (vkt_cli_flag(argv, i, "--activate-output"))
            activate_output = true;
        else if (vkt_cli_flag(argv, i, "--layer-norm"))
            layer_norm = true;
        else if (vkt_cli_flag(argv, i, "--dropout"))
            dropout = true;
        else if (vkt_cli_flag(argv, i, "--last-layer-dropout"))
            lld = true;
        else if (vkt_cli_flag(argv, i, "--overwrite"))
            overwrite = true;
        else if (argv[i][0] == '-' && argv[i][1])
            return vkt_cli_usage("hypernetwork create", "unknown option \"%s\"", argv[i]);
        else if (!name)
            name = argv[i];
        else
            return vkt_cli_usage("hypernetwork create", "unexpected argument \"%s\"", argv[i]);
        if (missing) return vkt_cli_usage("hypernetwork create", "%s needs a value", argv[i]);
    }
    if (!name) return vkt_cli_usage("hypernetwork create", "NAME is required");
    vkt_hn_create_opts o = {0};
    vkt_err err = {0};
    char clean[256], *cl = NULL;
    /* create_hypernetwork(): the embeddings' character filter (Python isalnum or "._- ") */
    if (vkt_embedding_name_sanitize(name, &cl, &err))
        return vkt_cli_usage("hypernetwork create", "name \"%s\": %s", name, err.msg);
    bool fits = strlen(cl) < sizeof clean;
    if (fits) snprintf(clean, sizeof clean, "%s", cl);
    free(cl);
    if (!fits) return vkt_cli_usage("hypernetwork create", "name too long");
    o.name = clean;
    int64_t sizes[VKT_HN_MAX_SIZES];
    if (!parse_sizes(sizes_text, sizes, VKT_HN_MAX_SIZES, &o.n_sizes))
        return vkt_cli_usage("hypernetwork create",
                             "--sizes \"%s\": expected a comma list of positive integers",
                             sizes_text);
    o.sizes = sizes;
    vkt_hn_options *op = &o.opt;
    if (vkt_hn_parse_list(ls_text, op->layer_structure, VKT_HN_MAX_LAYERS, &op->n_layers, &err))
        return vkt_cli_usage("hypernetwork create", "--layer-structure %s", err.msg);
    if (strlen(act) >= sizeof op->activation)
        return vkt_cli_usage("hypernetwork create", "--activation \"%s\" is not supported", act);
    snprintf(op->activation, sizeof op->activation, "%s", act);
    if (strcmp(act, "hardswish") == 0)
        return vkt_cli_usage("hypernetwork create",
                             "--activation hardswish: the webui offers it as \"swish\"");
    snprintf(op->weight_init, sizeof op->weight_init, "%s", init);
    op->layer_norm = layer_norm;
    op->activate_output = activate_output;
    op->use_dropout = dropout;
    if (ds_text && !dropout)
        return vkt_cli_usage("hypernetwork create", "--dropout-structure needs --dropout");
    if (ds_text && lld)
        return vkt_cli_usage(
            "hypernetwork create",
            "--last-layer-dropout: give the last-layer value in --dropout-structure");
    if (lld && !dropout)
        return vkt_cli_usage("hypernetwork create", "--last-layer-dropout needs --dropout");
    if (ds_text) {
        int n = 0;
        if (vkt_hn_parse_list(ds_text, op->dropout_structure, VKT_HN_MAX_LAYERS, &n, &err))
            return vkt_cli_usage("hypernetwork create", "--dropout-structure %s", err.msg);
        if (n != op->n_layers)
            return vkt_cli_usage("hypernetwork create",
                                 "--dropout-structure has %d entries, the layer structure %d", n,
                                 op->n_layers);
        /* webui create_hypernetwork: [float(x.strip()) for x in ...] */
        for (int i = 0; i < n; i++)
            op->dropout_int[i] = false;
    } else {
        /* the webui's Create tab writes [0]*len with dropout off; with --dropout and no structure
         * vktrain uses the loader's derivation (parse_dropout_structure) */
        vkt_hn_default_dropout(op, dropout, lld);
    }
    o.seed = clock_seed();
    if (seed_text) {
        char *e;
        errno = 0;
        unsigned long long s = strtoull(seed_text, &e, 10);
        if (*e || errno || seed_text[0] == '-')
            return vkt_cli_usage("hypernetwork create", "--seed needs a non-negative integer");
        o.seed = s;
    }
    char path[1200];
    if (snprintf(path, sizeof path, "%s/%s.pt", out_dir, clean) >= (int)sizeof path)
        return vkt_cli_usage("hypernetwork create", "--out: path too long");
    struct stat sb;
    if (!overwrite && stat(path, &sb) == 0) {
        fprintf(stderr, "vktrain: error: %s already exists (use --overwrite to replace it)\n",
                path);
        return 1;
    }
    vkt_hypernetwork *hn = NULL;
    vkt_status st = vkt_hn_create(&o, &hn, &err);
    if (st == VKT_ERR_USAGE || st == VKT_ERR_UNSUPPORTED || st == VKT_ERR_FORMAT)
        return vkt_cli_usage("hypernetwork create", "%s",
                             err.msg); /* an option value the webui refuses */
    if (!st) st = vkt_mkdirs(out_dir, &err);
    if (!st) st = vkt_hn_save(hn, path, &err);
    if (st) {
        vkt_hn_destroy(hn);
        return vkt_cli_fail(&err);
    }
    fprintf(stderr, "weight init %s, seed %llu\n", op->weight_init, (unsigned long long)o.seed);
    printf("%s (%lld parameters)\n", path, (long long)vkt_hn_param_count(hn));
    vkt_hn_destroy(hn);
    return 0;
}

int vkt_cmd_hypernetwork(int argc, char **argv)
{
    if (argc < 2 || vkt_cli_is_help(argv[1])) {
        fputs(HELP, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "create") == 0) return cmd_create(argc - 1, argv + 1);
    if (strcmp(argv[1], "train") == 0) return vkt_cmd_hypernetwork_train(argc - 1, argv + 1);
    return vkt_cli_usage("hypernetwork", "unknown subcommand \"%s\"", argv[1]);
}
