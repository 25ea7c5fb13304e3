/* SPDX-License-Identifier: ISC */
/*
 * Samples and their percentiles, and the monotonic clock every figure is
 * timed with (workers stamp with it too, so times compare across
 * processes).
 */

#include "config.h"

#include <stdlib.h>
#include <time.h>

#include "bench.h"

long long
stats_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

void
stats_add(struct stats *s, double v)
{
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 64 : s->cap * 2;
		s->v = bench_xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = v;
}

static int
stats_cmp(const void *a, const void *b)
{
	double	x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* The p-th percentile (0-100), nearest rank; 0 without samples. */
double
stats_pct(struct stats *s, double p)
{
	size_t	rank;

	if (s->n == 0)
		return (0);
	qsort(s->v, s->n, sizeof *s->v, stats_cmp);
	rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > s->n)
		rank = s->n;
	return (s->v[rank - 1]);
}

/* The median; with an even count, the mean of the middle two. */
double
stats_median(struct stats *s)
{
	if (s->n == 0)
		return (0);
	qsort(s->v, s->n, sizeof *s->v, stats_cmp);
	if (s->n % 2 == 1)
		return (s->v[s->n / 2]);
	return ((s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2);
}

void
stats_clear(struct stats *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}
