/* SPDX-License-Identifier: ISC */
/*
 * Signal names and numbers: a number from 1 to 64, or a name with or
 * without "SIG" in any case ("HUP", "sigusr1", "RTMIN+2").
 */

#include "config.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto.h"

#define SIGNAL_MAX	64

/* Parses "RTMIN", "RTMIN+N", "RTMAX", "RTMAX-N"; returns -1 otherwise. */
static int
signal_realtime(const char *name)
{
	const char	*rest;
	char		*end;
	long		 n = 0;
	int		 base, sign;

	if (strncasecmp(name, "RTMIN", 5) == 0) {
		base = SIGRTMIN;
		sign = 1;
	} else if (strncasecmp(name, "RTMAX", 5) == 0) {
		base = SIGRTMAX;
		sign = -1;
	} else
		return (-1);
	rest = name + 5;
	if (*rest != '\0') {
		if (*rest != (sign > 0 ? '+' : '-') || rest[1] < '0' ||
		    rest[1] > '9')
			return (-1);
		n = strtol(rest + 1, &end, 10);
		if (*end != '\0' || n > SIGRTMAX - SIGRTMIN)
			return (-1);
	}
	return (base + sign * (int)n);
}

/*
 * Names glibc's sigabbrev_np does not give: it knows signal 29 only as
 * POLL, where kill(1), bash and Python say IO; CLD and IOT are the old
 * names of CHLD and ABRT.
 */
static const struct {
	const char	*name;
	int		 signo;
} signal_aliases[] = {
	{ "IO",		SIGIO },
	{ "CLD",	SIGCHLD },
	{ "IOT",	SIGABRT },
};

int
proto_signal_from_name(const char *name)
{
	const char	*abbrev;
	size_t		 i;
	int		 signo;

	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	if (*name == '\0')
		return (-1);
	for (i = 0; i < sizeof signal_aliases / sizeof signal_aliases[0]; i++) {
		if (strcasecmp(signal_aliases[i].name, name) == 0)
			return (signal_aliases[i].signo);
	}
	for (signo = 1; signo <= SIGNAL_MAX; signo++) {
		abbrev = sigabbrev_np(signo);
		if (abbrev != NULL && strcasecmp(abbrev, name) == 0)
			return (signo);
	}
	return (signal_realtime(name));
}

/* Returns the signal a param names, or -1. */
int
proto_signal_parse(const json_t *v)
{
	json_int_t	n;

	if (json_is_integer(v)) {
		n = json_integer_value(v);
		return (n >= 1 && n <= SIGNAL_MAX ? (int)n : -1);
	}
	if (json_is_string(v))
		return (proto_signal_from_name(json_string_value(v)));
	return (-1);
}

/* The name without "SIG", or NULL for a signal with no name of its own. */
const char *
proto_signal_name(int signo)
{
	/* The name people know it by (the first alias is the preferred). */
	if (signo == SIGIO)
		return ("IO");
	return (sigabbrev_np(signo));
}

int
proto_job_exit_status(const json_t *job)
{
	json_t	*code;

	if (json_is_true(json_object_get(job, PROTO_F_TIMED_OUT)))
		return (124);
	code = json_object_get(job, PROTO_F_EXITCODE);
	if (!json_is_integer(code))
		return (-1);
	if (json_integer_value(code) < 0)
		return (128 - (int)json_integer_value(code));
	return ((int)json_integer_value(code) & 0xff);
}
