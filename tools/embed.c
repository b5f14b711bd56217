/* Build-time tool: embed IN as `const unsigned char vkt_spv_<NAME>[]` in OUT (a C file).
 * Usage: vkt_embed NAME IN OUT */
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: vkt_embed NAME IN OUT\n");
        return 2;
    }
    FILE *in = fopen(argv[2], "rb"), *out = fopen(argv[3], "w");
    if (!in || !out) {
        fprintf(stderr, "vkt_embed: cannot open %s or %s\n", argv[2], argv[3]);
        return 1;
    }
    fprintf(out, "/* Generated from %s. */\n_Alignas(4) const unsigned char vkt_spv_%s[] = {\n", argv[2], argv[1]);
    unsigned long n = 0;
    int c;
    while ((c = fgetc(in)) != EOF) fprintf(out, "%d,%s", c, (++n % 24) ? "" : "\n");
    fprintf(out, "0};\nconst unsigned long vkt_spv_%s_size = %luUL;\n", argv[1], n);
    int bad = ferror(in) || ferror(out);
    fclose(in);
    if (fclose(out) != 0) bad = 1;
    return bad ? 1 : 0;
}
