/* grow.h — growing a malloc'd array without losing it when memory runs out. */
#ifndef CDS_GROW_H
#define CDS_GROW_H

#include <stdbool.h>
#include <stddef.h>

/* Makes room for at least `need` elements of `size` bytes in *arr (a T** passed as void*),
 * doubling *cap. false, with *arr and *cap unchanged, when the allocation fails or would
 * overflow: the caller reports out of memory rather than carrying on with a shorter list. */
bool cds_grow(void *arr, size_t *cap, size_t need, size_t size);

#endif
