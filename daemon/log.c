/* SPDX-License-Identifier: ISC */
/*
 * Logging to stderr. When stderr is the journal (JOURNAL_STREAM names it),
 * lines carry sd-daemon's "<N>" priority prefixes instead of a timestamp.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "procd.h"

static int	log_verbose;
static int	log_journal;

/* True if stderr is the stream JOURNAL_STREAM ("dev:ino") names. */
static int
log_stderr_is_journal(void)
{
	const char		*env;
	struct stat		 sb;
	unsigned long long	 dev, ino;

	env = getenv("JOURNAL_STREAM");
	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return (0);
	if (fstat(STDERR_FILENO, &sb) == -1)
		return (0);
	return ((unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino);
}

void
log_init(int verbose)
{
	log_verbose = verbose;
	log_journal = log_stderr_is_journal();
}

static void
log_vwrite(const char *prefix, const char *fmt, va_list ap, const char *err)
{
	char	line[2048];
	int	n;

	n = vsnprintf(line, sizeof line, fmt, ap);
	if (n < 0)
		return;
	if (log_journal)
		fprintf(stderr, "%s%s%s%s\n", prefix, line, err ? ": " : "",
		    err ? err : "");
	else
		fprintf(stderr, "procd: %s%s%s\n", line, err ? ": " : "",
		    err ? err : "");
}

void
log_warn(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(SD_WARNING, fmt, ap, strerror(saved));
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(SD_WARNING, fmt, ap, NULL);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(SD_INFO, fmt, ap, NULL);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	log_vwrite(SD_DEBUG, fmt, ap, NULL);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	ap;
	int	saved = errno;

	va_start(ap, fmt);
	log_vwrite(SD_ERR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vwrite(SD_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}
