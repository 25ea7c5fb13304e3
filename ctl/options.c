/* SPDX-License-Identifier: ISC */
/*
 * One option parser for every command: the table of options, their
 * values checked as they are read (a typo is a usage error before
 * anything is sent), and options in any place among the operands.
 */

#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "procctl.h"

static const struct procctl_option procctl_options[] = {
	{ "socket",		0,	1,	OPT_SOCKET },
	{ "host",		'H',	1,	OPT_HOST },
	{ "json",		0,	0,	OPT_JSON },
	{ "help",		'h',	0,	OPT_HELP },
	{ "version",		0,	0,	OPT_VERSION },
	{ "name",		0,	1,	OPT_NAME },
	{ "daemon",		0,	0,	OPT_DAEMON },
	{ "parent",		0,	1,	OPT_PARENT },
	{ "env",		0,	1,	OPT_ENV },
	{ "unset",		0,	1,	OPT_UNSET },
	{ "cwd",		0,	1,	OPT_CWD },
	{ "stop-timeout",	0,	1,	OPT_STOP_TIMEOUT },
	{ "wait",		0,	0,	OPT_WAIT },
	{ "timeout",		0,	1,	OPT_TIMEOUT },
	{ "recursive",		0,	0,	OPT_RECURSIVE },
	{ "group",		0,	0,	OPT_GROUP },
	/* start and run: who the job runs as (root may name others) */
	{ "user",		0,	1,	OPT_AS_USER },
	{ "group",		0,	1,	OPT_AS_GROUP },
	{ "state",		0,	1,	OPT_STATE },
	{ "follow",		'f',	0,	OPT_FOLLOW },
	{ "tail",		'n',	1,	OPT_TAIL },
	{ "stdout",		0,	0,	OPT_STDOUT },
	{ "stderr",		0,	0,	OPT_STDERR },
	{ "restart",		0,	1,	OPT_RESTART },
	{ "restart-delay",	0,	1,	OPT_RESTART_DELAY },
	{ "restart-max-delay",	0,	1,	OPT_RESTART_MAX_DELAY },
	{ "restart-limit",	0,	1,	OPT_RESTART_LIMIT },
	{ "notify",		0,	0,	OPT_NOTIFY },
	{ "wait-ready",		0,	0,	OPT_WAIT_READY },
	{ "ready-timeout",	0,	1,	OPT_READY_TIMEOUT },
	{ "kill-mode",		0,	1,	OPT_KILL_MODE },
	{ "delay",		'd',	1,	OPT_DELAY },
	{ "iterations",		'n',	1,	OPT_ITERATIONS },
	{ "rm",			0,	0,	OPT_RM },
};
#define PROCCTL_NOPTIONS (sizeof procctl_options / sizeof procctl_options[0])

/*
 * The options cmd takes, one per call in the table's order, for
 * procctl complete: *i starts at 0; NULL after the last.
 */
const struct procctl_option *
procctl_option_next(const struct procctl_command *cmd, size_t *i)
{
	const struct procctl_option	*o;

	while (*i < PROCCTL_NOPTIONS) {
		o = &procctl_options[(*i)++];
		if (cmd->options & OPT(o->id))
			return (o);
	}
	return (NULL);
}

/*
 * The words an option takes (NULL-terminated), or NULL for any value:
 * those of the start param it sets, from the protocol's table.
 */
const char *const *
procctl_option_words(enum procctl_opt id)
{
	if (id == OPT_RESTART)
		return (proto_param_words(proto_params_start, "restart"));
	if (id == OPT_KILL_MODE)
		return (proto_param_words(proto_params_start, "kill_mode"));
	return (NULL);
}

/* Reports a usage error for the parser's helpers, which return -1. */
static int __attribute__((format(printf, 2, 3)))
procctl_fail(struct procctl *ctl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	procctl_vusage(ctl, fmt, ap);
	va_end(ap);
	return (-1);
}

/* A string for the request, or NULL (reported) if it is not UTF-8. */
json_t *
procctl_string(struct procctl *ctl, const char *s)
{
	json_t	*v;

	if ((v = json_string(s)) == NULL)
		procctl_usage_error(ctl, "not valid UTF-8: %s", s);
	return (v);
}

/* A JOB operand: all digits is an id, anything else a name. */
json_t *
procctl_job(struct procctl *ctl, const char *s)
{
	unsigned long long	 n;
	char			*end;

	if (*s != '\0' && strspn(s, "0123456789") == strlen(s)) {
		errno = 0;
		n = strtoull(s, &end, 10);
		if (errno != 0 || n > LLONG_MAX) {
			procctl_usage_error(ctl, "job id out of range: %s", s);
			return (NULL);
		}
		return (json_integer((json_int_t)n));
	}
	return (procctl_string(ctl, s));
}

/* A number of seconds, sent as an integer when it is one. */
static json_t *
procctl_seconds(struct procctl *ctl, const char *opt, const char *s)
{
	char	*end;
	double	 d;

	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(d) ||
	    d < 0 || d > PROTO_MAX_SECONDS) {
		procctl_usage_error(ctl, "--%s: not a number of seconds: %s",
		    opt, s);
		return (NULL);
	}
	/* d is at most PROTO_MAX_SECONDS, so the cast is exact. */
	if (d == (double)(json_int_t)d)
		return (json_integer((json_int_t)d));
	return (json_real(d));
}

static int
procctl_count(struct procctl *ctl, const char *opt, const char *s,
    json_int_t *out)
{
	unsigned long long	 n;
	char			*end;

	errno = 0;
	n = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 ||
	    n > LLONG_MAX)
		return (procctl_fail(ctl, "--%s: not a count: %s", opt, s));
	*out = (json_int_t)n;
	return (0);
}

/* --env K=V and --unset K both edit one env object: null unsets. */
static int
procctl_env(struct procctl *ctl, int unset, const char *arg)
{
	struct procctl_args	*args = &ctl->args;
	const char		*eq = strchr(arg, '=');
	char			*key;
	json_t			*value;
	int			 r;

	if (unset && (*arg == '\0' || eq != NULL))
		return (procctl_fail(ctl, "--unset: not a name: %s", arg));
	if (!unset && (eq == NULL || eq == arg))
		return (procctl_fail(ctl, "--env: not K=V: %s", arg));

	key = xstrdup(arg);
	if (unset)
		value = json_null();
	else {
		key[eq - arg] = '\0';
		value = json_string(eq + 1);
	}
	if (args->env == NULL)
		args->env = json_object();
	/* Both fail only for text that is not UTF-8. */
	r = json_object_set_new(args->env, key, value);
	free(key);
	if (value == NULL || r == -1)
		return (procctl_fail(ctl, "not valid UTF-8: %s", arg));
	return (0);
}

/* Where the value of an option that takes seconds is kept. */
static json_t **
procctl_seconds_slot(struct procctl_args *args, enum procctl_opt id)
{
	switch (id) {
	case OPT_TIMEOUT:
		return (&args->timeout);
	case OPT_RESTART_DELAY:
		return (&args->restart_delay);
	case OPT_RESTART_MAX_DELAY:
		return (&args->restart_max_delay);
	case OPT_READY_TIMEOUT:
		return (&args->ready_timeout);
	default:
		return (&args->stop_timeout);
	}
}

/*
 * --restart and --kill-mode take one of a few words; checking them here
 * makes a typo a usage error before anything is started.
 */
static int
procctl_word(struct procctl *ctl, const struct procctl_option *o,
    const char *value)
{
	const char *const	*words;

	for (words = procctl_option_words(o->id); *words != NULL; words++) {
		if (strcmp(*words, value) == 0)
			break;
	}
	if (*words == NULL && o->id == OPT_RESTART)
		return (procctl_fail(ctl, "--restart: not no, on-failure or "
		    "always: %s", value));
	if (*words == NULL)
		return (procctl_fail(ctl, "--kill-mode: not group or tree: %s",
		    value));
	if (o->id == OPT_RESTART)
		ctl->args.restart = value;
	else
		ctl->args.kill_mode = value;
	return (0);
}

/*
 * Splits -H's [USER@]HOST[:SOCKET] into its parts (malloc'd; user and
 * socket NULL when not given). HOST may be an IPv6 address in brackets,
 * [::1]:SOCKET. SOCKET is later read by the remote shell: one that would
 * need more than single quotes there is refused. Returns 0, or -1 with
 * *why saying what is wrong.
 */
int
procctl_host_split(const char *spec, char **user, char **host,
    char **socket, const char **why)
{
	const char	*at, *colon, *h, *end, *p;

	*user = *host = *socket = NULL;
	colon = strchr(spec, ':');
	at = strchr(spec, '@');
	if (at != NULL && colon != NULL && at > colon)
		at = NULL;	/* in SOCKET */
	if (at == spec) {
		*why = "empty USER";
		return (-1);
	}
	h = at != NULL ? at + 1 : spec;
	if (*h == '[') {
		if ((end = strchr(h, ']')) == NULL) {
			*why = "no ']' after an IPv6 address";
			return (-1);
		}
		if (end[1] != '\0' && end[1] != ':') {
			*why = "':' must follow the ']' of an IPv6 address";
			return (-1);
		}
		colon = end[1] == ':' ? end + 1 : NULL;
		h++;
	} else
		end = colon = strchr(h, ':');
	if (end == NULL)
		end = h + strlen(h);
	if (end == h) {
		*why = "empty HOST";
		return (-1);
	}
	if (colon != NULL) {
		if (colon[1] == '\0') {
			*why = "empty SOCKET after ':'";
			return (-1);
		}
		for (p = colon + 1; *p != '\0'; p++) {
			if (*p == '\'' || *p == '\\' || (unsigned char)*p < 0x20 ||
			    *p == 0x7f) {
				*why = "SOCKET holds a quote, a backslash or a "
				    "control character, which the remote shell "
				    "would not pass on as they are";
				return (-1);
			}
		}
		*socket = xstrdup(colon + 1);
	}
	if (at != NULL)
		xasprintf(user, "%.*s", (int)(at - spec), spec);
	xasprintf(host, "%.*s", (int)(end - h), h);
	return (0);
}

/*
 * --socket and -H both say where procd is; one of them at most, wherever
 * each stands on the command line.
 */
static int
procctl_where(struct procctl *ctl, enum procctl_opt id, const char *value)
{
	struct procctl_args	*args = &ctl->args;
	const char		*why;
	char			*user, *host, *socket;

	if ((id == OPT_SOCKET && args->host != NULL) ||
	    (id == OPT_HOST && args->socket != NULL))
		return (procctl_fail(ctl, "--socket and --host exclude each "
		    "other (give the socket as --host HOST:SOCKET)"));
	if (id == OPT_SOCKET) {
		args->socket = value;
		return (0);
	}
	if (procctl_host_split(value, &user, &host, &socket, &why) == -1)
		return (procctl_fail(ctl, "--host: %s: %s", why, value));
	free(user);
	free(host);
	free(socket);
	args->host = value;
	return (0);
}

/* Stores one option's value; -1 after reporting a usage error. */
static int
procctl_option(struct procctl *ctl, const struct procctl_option *o,
    const char *value)
{
	struct procctl_args	*args = &ctl->args;
	json_t			*v, **slot;

	args->given |= OPT(o->id);
	switch (o->id) {
	case OPT_SOCKET:
	case OPT_HOST:
		return (procctl_where(ctl, o->id, value));
	case OPT_JSON:
		args->json = 1;
		break;
	case OPT_HELP:
		procctl_help(ctl->cmd);
		exit(PROCCTL_EXIT_OK);
	case OPT_VERSION:
		printf("procctl %s (protocol %s)\n", PACKAGE_VERSION,
		    PROTO_VERSION);
		exit(PROCCTL_EXIT_OK);
	case OPT_NAME:
		if (!proto_name_valid(value))
			return (procctl_fail(ctl, "--name: not a valid job "
			    "name (1-64 of A-Za-z0-9._@:-, not all digits, "
			    "not job-N): %s", value));
		args->name = value;
		break;
	case OPT_DAEMON:
		args->daemon = 1;
		break;
	case OPT_PARENT:
		if ((v = procctl_job(ctl, value)) == NULL)
			return (-1);
		json_decref(args->parent);
		args->parent = v;
		break;
	case OPT_ENV:
	case OPT_UNSET:
		return (procctl_env(ctl, o->id == OPT_UNSET, value));
	case OPT_AS_USER:
	case OPT_AS_GROUP:
		if (*value == '\0')
			return (procctl_fail(ctl, "--%s: empty", o->name));
		if (o->id == OPT_AS_USER)
			args->user = value;
		else
			args->as_group = value;
		break;
	case OPT_CWD:
		if (*value == '\0')
			return (procctl_fail(ctl, "--cwd: empty path"));
		args->cwd = value;
		break;
	case OPT_STOP_TIMEOUT:
	case OPT_TIMEOUT:
	case OPT_RESTART_DELAY:
	case OPT_RESTART_MAX_DELAY:
	case OPT_READY_TIMEOUT:
		if ((v = procctl_seconds(ctl, o->name, value)) == NULL)
			return (-1);
		slot = procctl_seconds_slot(args, o->id);
		json_decref(*slot);
		*slot = v;
		break;
	case OPT_RESTART:
	case OPT_KILL_MODE:
		return (procctl_word(ctl, o, value));
	case OPT_RESTART_LIMIT:
		return (procctl_count(ctl, o->name, value,
		    &args->restart_limit));
	case OPT_NOTIFY:
		args->notify = 1;
		break;
	case OPT_WAIT_READY:
		args->wait_ready = 1;
		break;
	case OPT_WAIT:
		args->wait = 1;
		break;
	case OPT_RM:
		args->rm = 1;
		break;
	case OPT_RECURSIVE:
		args->recursive = 1;
		break;
	case OPT_GROUP:
		args->group = 1;
		break;
	case OPT_STATE:
		if (proto_state_parse(value) == -1)
			return (procctl_fail(ctl, "--state: not running, "
			    "stopping, restarting, waiting or exited: %s",
			    value));
		if (args->states == NULL)
			args->states = json_array();
		json_array_append_new(args->states, json_string(value));
		break;
	case OPT_FOLLOW:
		args->follow = 1;
		break;
	case OPT_TAIL:
		return (procctl_count(ctl, o->name, value, &args->tail));
	case OPT_DELAY:
		if ((v = procctl_seconds(ctl, o->name, value)) == NULL)
			return (-1);
		args->delay = json_number_value(v);
		json_decref(v);
		break;
	case OPT_ITERATIONS:
		return (procctl_count(ctl, o->name, value, &args->iterations));
	case OPT_STDOUT:
		args->streams |= PROCCTL_STDOUT;
		break;
	case OPT_STDERR:
		args->streams |= PROCCTL_STDERR;
		break;
	case OPT__COUNT:
		break;
	}
	return (0);
}

static const struct procctl_option *
procctl_lookup(const struct procctl_command *cmd, const char *name,
    size_t len, int letter)
{
	const struct procctl_option	*o;
	size_t				 i;

	for (i = 0; i < PROCCTL_NOPTIONS; i++) {
		o = &procctl_options[i];
		if ((cmd->options & OPT(o->id)) == 0)
			continue;
		if (letter != 0 ? o->letter == letter :
		    strlen(o->name) == len && strncmp(o->name, name, len) == 0)
			return (o);
	}
	return (NULL);
}

/* One "--name[=value]" argument; advances *i past a separate value. */
static int
procctl_long(struct procctl *ctl, int argc, char **argv, int *i)
{
	const struct procctl_option	*o;
	const char			*arg = argv[*i] + 2, *eq, *value;
	size_t				 len;

	eq = strchr(arg, '=');
	len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	if ((o = procctl_lookup(ctl->cmd, arg, len, 0)) == NULL)
		return (procctl_fail(ctl, "unknown option: --%.*s",
		    (int)len, arg));
	if (!o->has_arg) {
		if (eq != NULL)
			return (procctl_fail(ctl, "--%s takes no value",
			    o->name));
		return (procctl_option(ctl, o, NULL));
	}
	if (eq != NULL)
		value = eq + 1;
	else if (*i + 1 < argc)
		value = argv[++*i];
	else
		return (procctl_fail(ctl, "--%s needs a value",
		    o->name));
	return (procctl_option(ctl, o, value));
}

/* One "-abc" cluster of short options; the last may take a value. */
static int
procctl_short(struct procctl *ctl, int argc, char **argv, int *i)
{
	const struct procctl_option	*o;
	const char			*p, *value;

	for (p = argv[*i] + 1; *p != '\0'; p++) {
		if ((o = procctl_lookup(ctl->cmd, NULL, 0, *p)) == NULL)
			return (procctl_fail(ctl, "unknown option: -%c",
			    *p));
		if (!o->has_arg) {
			if (procctl_option(ctl, o, NULL) == -1)
				return (-1);
			continue;
		}
		if (p[1] != '\0')
			value = p + 1;
		else if (*i + 1 < argc)
			value = argv[++*i];
		else
			return (procctl_fail(ctl, "-%c needs a value",
			    *p));
		return (procctl_option(ctl, o, value));
	}
	return (0);
}

/* Checks the operand count against the command's needs. */
int
procctl_operands(struct procctl *ctl)
{
	const struct procctl_command	*cmd = ctl->cmd;
	const char			*p, *word;
	int				 n = 0, need = 0;

	for (p = cmd->required; *p != '\0'; p++) {
		if (p == cmd->required || p[-1] == ' ')
			need++;
	}
	if (ctl->args.noperands < need) {
		/* Name the first missing operand. */
		word = cmd->required;
		for (n = 0; n < ctl->args.noperands; n++)
			word = strchr(word, ' ') + 1;
		return (procctl_fail(ctl, "%s: missing %.*s",
		    cmd->name, (int)strcspn(word, " "), word));
	}
	if (cmd->max != -1 && ctl->args.noperands > cmd->max)
		return (procctl_fail(ctl, "%s: unexpected operand: %s",
		    cmd->name, ctl->args.operands[cmd->max]));
	return (0);
}

/*
 * Parses argv (argv[0] being the command name) for ctl->cmd: options in any
 * place, operands collected in order; "--" ends the options, and so does
 * the first operand of an in_order command.
 */
int
procctl_parse(struct procctl *ctl, int argc, char **argv)
{
	struct procctl_args	*args = &ctl->args;
	const char		*arg;
	int			 i, r;

	free(args->operands);
	args->operands = xcalloc(argc + 1, sizeof *args->operands);
	args->noperands = 0;
	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strcmp(arg, "--") == 0) {
			i++;
			break;
		}
		if (arg[0] != '-' || arg[1] == '\0') {
			if (ctl->cmd->in_order)
				break;
			args->operands[args->noperands++] = argv[i];
			continue;
		}
		if (arg[1] == '-')
			r = procctl_long(ctl, argc, argv, &i);
		else
			r = procctl_short(ctl, argc, argv, &i);
		if (r == -1)
			return (-1);
	}
	for (; i < argc; i++)
		args->operands[args->noperands++] = argv[i];
	return (0);
}
