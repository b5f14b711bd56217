/* Lookup in the generated asset table. */
#include "assets.h"

#include <string.h>

const vkt_asset *vkt_asset_find(const char *name)
{
    for (const vkt_asset *a = vkt_asset_table; a->name; a++)
        if (strcmp(a->name, name) == 0) return a;
    return 0;
}
