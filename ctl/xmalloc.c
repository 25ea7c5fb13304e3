/* SPDX-License-Identifier: ISC */
/*
 * Allocation that cannot fail: procctl exits on out of memory, as there
 * is nothing better a command-line client can do.
 */

#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "procctl.h"


static void
procctl_oom(void)
{
	fprintf(stderr, "procctl: out of memory\n");
	exit(PROCCTL_EXIT_ERROR);
}

void *
xmalloc(size_t size)
{
	void	*p;

	if ((p = malloc(size == 0 ? 1 : size)) == NULL)
		procctl_oom();
	return (p);
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size)) == NULL)
		procctl_oom();
	return (p);
}

void *
xrealloc(void *old, size_t size)
{
	void	*p;

	if ((p = realloc(old, size == 0 ? 1 : size)) == NULL)
		procctl_oom();
	return (p);
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		procctl_oom();
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
		procctl_oom();
	return (n);
}
