/* grow.c — growing a malloc'd array without losing it (see grow.h). */
#include "grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool cds_grow(void *arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return true;
    size_t n = *cap * 2 + 16;
    if (n < need) n = need;
    if (size && n > SIZE_MAX / size) return false;
    void *old;
    memcpy(&old, arr, sizeof old);
    void *p = realloc(old, n * size);
    if (!p) return false;
    memcpy(arr, &p, sizeof p);
    *cap = n;
    return true;
}
