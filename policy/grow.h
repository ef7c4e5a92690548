/*
 * grow.h - arrays that grow by doubling. ig_grow(&p, n, size) makes room for element n (the
 * (n+1)-th) of an array holding n elements whose capacity is implied by n (8, 16, 32, ...):
 * appending N elements copies O(N) bytes in all, not O(N^2) as growing by one each time
 * does (found in the obligation store's list of thousands of records: a scan spent most of
 * its time in memmove). Works after removals too: an array never holds fewer slots than
 * the capacity its count implies. 0, or -1 on OOM (*pp unchanged).
 */
#ifndef IMPORTGATE_GROW_H
#define IMPORTGATE_GROW_H

#include <stdlib.h>

static inline int ig_grow(void *pp, size_t n, size_t size)
{
	void **p = (void **)pp;
	size_t cap;
	void *q;

	if (*p && n != 0 && (n < 8 || (n & (n - 1)) != 0))
		return 0; /* room already: n is below the capacity it implies */
	cap = n < 8 ? 8 : n * 2;
	if (cap > ((size_t)-1) / size)
		return -1;
	q = realloc(*p, cap * size);
	if (!q)
		return -1;
	*p = q;
	return 0;
}

#endif
