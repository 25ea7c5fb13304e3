/* SPDX-License-Identifier: ISC */
/*
 * Allocation that cannot fail: out of memory is fatal, and systemd
 * restarts procd. Also small string and time helpers.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procd.h"

void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		fatal("malloc");
	return (p);
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		fatal("calloc");
	return (p);
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if ((p = reallocarray(old, n == 0 ? 1 : n, size == 0 ? 1 : size)) ==
	    NULL)
		fatal("reallocarray");
	return (p);
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return (p);
}

int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n == -1)
		fatal("vasprintf");
	return (n);
}

/* Frees a NULL-terminated array of strings and the array. */
void
xfree_strv(char **v)
{
	char	**p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

/* The time seconds from now on clock, into *ts. */
void
time_from_now(clockid_t clock, double seconds, struct timespec *ts)
{
	clock_gettime(clock, ts);
	ts->tv_sec += (time_t)seconds;
	ts->tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Seconds on clock since *ts (negative before it). */
double
time_since(clockid_t clock, const struct timespec *ts)
{
	struct timespec	now;

	clock_gettime(clock, &now);
	return ((double)(now.tv_sec - ts->tv_sec) +
	    (now.tv_nsec - ts->tv_nsec) / 1e9);
}

/* Formats ts as RFC 3339 UTC with milliseconds into buf. */
char *
time_rfc3339(const struct timespec *ts, char *buf, size_t len)
{
	struct tm	tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000);
	return (buf);
}
