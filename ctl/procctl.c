/* SPDX-License-Identifier: ISC */
/*
 * procctl's entry point: global options, the table of subcommands, one
 * option parser for all of them (options may follow operands), usage, and
 * the calls every subcommand makes to reach procd.
 */

#include "config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

enum procctl_opt {
	OPT_SOCKET,
	OPT_JSON,
	OPT_HELP,
	OPT_VERSION,
	OPT_NAME,
	OPT_DAEMON,
	OPT_PARENT,
	OPT_ENV,
	OPT_UNSET,
	OPT_CWD,
	OPT_STOP_TIMEOUT,
	OPT_WAIT,
	OPT_TIMEOUT,
	OPT_RECURSIVE,
	OPT_GROUP,
	OPT_AS_USER,
	OPT_AS_GROUP,
	OPT_STATE,
	OPT_FOLLOW,
	OPT_TAIL,
	OPT_STDOUT,
	OPT_STDERR,
	OPT_RESTART,
	OPT_RESTART_DELAY,
	OPT_RESTART_MAX_DELAY,
	OPT_RESTART_LIMIT,
	OPT_NOTIFY,
	OPT_WAIT_READY,
	OPT_READY_TIMEOUT,
	OPT_KILL_MODE,		/* stays last: see below */
};
#define OPT(o)		(1 << (o))
/* A command's options are the bits of an int. */
_Static_assert(OPT_KILL_MODE < 31, "too many options for an int of bits");
/* Every subcommand takes these, so they may also follow COMMAND. */
#define OPT_COMMON	(OPT(OPT_SOCKET) | OPT(OPT_JSON) | OPT(OPT_HELP))
#define OPT_SPAWN	(OPT(OPT_NAME) | OPT(OPT_DAEMON) | OPT(OPT_PARENT) | \
    OPT(OPT_ENV) | OPT(OPT_UNSET) | OPT(OPT_CWD) | OPT(OPT_STOP_TIMEOUT) | \
    OPT(OPT_AS_USER) | OPT(OPT_AS_GROUP) | OPT_SUPERVISE)
/* start and run: how procd supervises the job (protocol sections 10-12). */
#define OPT_SUPERVISE	(OPT(OPT_RESTART) | OPT(OPT_RESTART_DELAY) | \
    OPT(OPT_RESTART_MAX_DELAY) | OPT(OPT_RESTART_LIMIT) | OPT(OPT_NOTIFY) | \
    OPT(OPT_WAIT_READY) | OPT(OPT_READY_TIMEOUT) | OPT(OPT_KILL_MODE))

struct procctl_option {
	const char	*name;
	int		 letter;
	int		 has_arg;
	enum procctl_opt id;
};

static const struct procctl_option procctl_options[] = {
	{ "socket",		0,	1,	OPT_SOCKET },
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
};
#define PROCCTL_NOPTIONS (sizeof procctl_options / sizeof procctl_options[0])

#define SPAWN_SYNOPSIS "[--name N] [--daemon] [--parent JOB] [--cwd DIR]\n" \
    "[--env K=V]... [--unset K]... [--stop-timeout S]\n" \
    "[--user USER] [--group GROUP]\n" \
    "[--restart POLICY] [--restart-delay S]\n" \
    "[--restart-max-delay S] [--restart-limit N]\n" \
    "[--notify] [--wait-ready] [--ready-timeout S]\n" \
    "[--kill-mode MODE]"
#define SPAWN_HELP \
    "  --daemon          stop the job when its parent job exits\n" \
    "  --parent JOB      make the job a child of JOB\n" \
    "  --env K=V         set K in the job's environment\n" \
    "  --unset K         remove K from the job's environment\n" \
    "  --cwd DIR         working folder (default: procctl's own)\n" \
    "  --stop-timeout S  seconds from SIGTERM to SIGKILL (default 10)\n" \
    "  --user USER       run as USER, a name or uid (root only, unless\n" \
    "                    USER is you)\n" \
    "  --group GROUP     run with primary group GROUP, a name or gid\n" \
    "                    (root, or a group you have)\n" \
    "  --restart POLICY  start the process again when it exits: no\n" \
    "                    (default), on-failure (status not 0, or a\n" \
    "                    signal) or always; never after terminate or kill\n" \
    "  --restart-delay S\n" \
    "                    seconds before a restart (default 1), doubled\n" \
    "                    after each process that ran less than 10 s\n" \
    "  --restart-max-delay S\n" \
    "                    the most the delay grows to (default 60)\n" \
    "  --restart-limit N\n" \
    "                    at most N restarts (default: no limit)\n" \
    "  --notify          give the job NOTIFY_SOCKET, to report readiness\n" \
    "                    and status as to systemd (sd_notify)\n" \
    "  --wait-ready      procd answers once the job has sent READY=1\n" \
    "                    (needs --notify)\n" \
    "  --ready-timeout S\n" \
    "                    terminate the job if it is not ready within S\n" \
    "                    seconds (needs --wait-ready)\n" \
    "  --kill-mode MODE  group (default): stopping the job signals its\n" \
    "                    process group; tree: every process it started,\n" \
    "                    in a cgroup of its own (procctl info: cgroups)\n"

static int	procctl_help_exec(struct procctl *);

/* The options before COMMAND. */
static const struct procctl_command procctl_global = {
	"", "", "", OPT_COMMON | OPT(OPT_VERSION), "", -1, 1, NULL
};

static const struct procctl_command procctl_commands[] = {
	{ "start", SPAWN_SYNOPSIS " [--wait]\n[--] CMD [ARG...]",
	  "Start CMD as a new job and print its id.\n"
	  "  --name N          name the job (default job-ID)\n" SPAWN_HELP
	  "  --wait            then wait for it as join does\n",
	  OPT_COMMON | OPT_SPAWN | OPT(OPT_WAIT), "CMD", -1, 1,
	  commands_start },
	{ "run", SPAWN_SYNOPSIS "\n[--] CMD [ARG...]",
	  "Start CMD as a new job, pass its output through and exit with its\n"
	  "status. An interrupt terminates the job, a second one kills it.\n"
	  "  --name N          name the job (default run-PID, PID being\n"
	  "                    procctl's own)\n" SPAWN_HELP,
	  OPT_COMMON | OPT_SPAWN, "CMD", -1, 1, commands_run },
	{ "join", "JOB [--timeout S]",
	  "Wait for JOB to finish and exit with its status (128+N for\n"
	  "signal N, 124 when the timeout passes first).\n",
	  OPT_COMMON | OPT(OPT_TIMEOUT), "JOB", 1, 0, commands_join },
	{ "terminate", "JOB [--recursive]",
	  "Send SIGTERM to JOB, then SIGKILL after its stop timeout.\n"
	  "  --recursive       every descendant job too\n",
	  OPT_COMMON | OPT(OPT_RECURSIVE), "JOB", 1, 0, commands_terminate },
	{ "kill", "JOB [--recursive]",
	  "Send SIGKILL to JOB.\n"
	  "  --recursive       every descendant job too\n",
	  OPT_COMMON | OPT(OPT_RECURSIVE), "JOB", 1, 0, commands_kill },
	{ "signal", "JOB SIG [--group]",
	  "Send signal SIG (number or name, e.g. HUP) to JOB.\n"
	  "  --group           to its whole process group\n",
	  OPT_COMMON | OPT(OPT_GROUP), "JOB SIG", 2, 0, commands_signal },
	{ "close", "JOB",
	  "Release the record of a finished job.\n",
	  OPT_COMMON, "JOB", 1, 0, commands_close },
	{ "status", "JOB",
	  "Show everything about JOB.\n",
	  OPT_COMMON, "JOB", 1, 0, commands_status },
	{ "list", "[--state S]... [--parent JOB]",
	  "List the jobs.\n"
	  "  --state S         only jobs in state S (running, stopping,\n"
	  "                    restarting, waiting, exited)\n"
	  "  --parent JOB      only the children of JOB\n",
	  OPT_COMMON | OPT(OPT_STATE) | OPT(OPT_PARENT), "", 0, 0,
	  commands_list },
	{ "info", "",
	  "Show procd's version, pid, socket and job counts.\n",
	  OPT_COMMON, "", 0, 0, commands_info },
	{ "reexec", "",
	  "Replace procd's program with the file it was started from, in the\n"
	  "same process: an upgrade that loses no job, connection or event.\n"
	  "procd checks the new program first and keeps running if it fails.\n",
	  OPT_COMMON, "", 0, 0, commands_reexec },
	{ "call", "METHOD [JSON-PARAMS]",
	  "Send one raw request and print its result as JSON.\n",
	  OPT_COMMON, "METHOD", 2, 0, commands_call },
	{ "logs", "JOB [-f] [-n N] [--stdout|--stderr]",
	  "Write JOB's retained stdout to stdout and its stderr to stderr.\n"
	  "  -f, --follow      go on until the job has finished\n"
	  "  -n, --tail N      only the last N lines\n"
	  "  --stdout          only its stdout\n"
	  "  --stderr          only its stderr\n",
	  OPT_COMMON | OPT(OPT_FOLLOW) | OPT(OPT_TAIL) | OPT(OPT_STDOUT) |
	  OPT(OPT_STDERR), "JOB", 1, 0, commands_logs },
	{ "events", "[JOB...]",
	  "Print one line per job event (of the given jobs, or all) until\n"
	  "interrupted; reconnects if procd goes away.\n",
	  OPT_COMMON, "", -1, 0, commands_events },
	{ "subscribe", "[JOB...]",
	  "The same as events: subscribe and print one line per event.\n",
	  OPT_COMMON, "", -1, 0, commands_events },
	{ "help", "[COMMAND]",
	  "Show the usage of procctl or of one command.\n",
	  OPT_COMMON, "", 1, 0, procctl_help_exec },
};
#define PROCCTL_NCOMMANDS (sizeof procctl_commands / sizeof procctl_commands[0])

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

/* Prints text with each '\n' followed by indent spaces. */
static void
procctl_wrapped(FILE *f, const char *text, int indent)
{
	for (; *text != '\0'; text++) {
		fputc(*text, f);
		if (*text == '\n')
			fprintf(f, "%*s", indent, "");
	}
}

static void
procctl_synopsis(FILE *f, const struct procctl_command *cmd)
{
	int	indent;

	indent = (int)strlen("usage: procctl ") + (int)strlen(cmd->name) + 1;
	fprintf(f, "usage: procctl %s", cmd->name);
	if (*cmd->synopsis != '\0') {
		fputc(' ', f);
		procctl_wrapped(f, cmd->synopsis, indent);
	}
	fputc('\n', f);
}

static void
procctl_usage(FILE *f)
{
	const struct procctl_command	*cmd;
	size_t				 i;
	int				 indent;

	fprintf(f, "usage: procctl [--socket PATH] [--json] COMMAND "
	    "[ARG...]\n       procctl --version\n\ncommands:\n");
	for (i = 0; i < PROCCTL_NCOMMANDS; i++) {
		cmd = &procctl_commands[i];
		indent = 2 + (int)strlen(cmd->name) + 1;
		fprintf(f, "  %s%s", cmd->name, *cmd->synopsis ? " " : "");
		procctl_wrapped(f, cmd->synopsis, indent);
		fputc('\n', f);
	}
	fprintf(f, "\n'procctl COMMAND --help' describes one command.\n");
}

/* Prints the full help of cmd (or of procctl) on stdout. */
static void
procctl_help(const struct procctl_command *cmd)
{
	if (cmd == NULL || cmd == &procctl_global) {
		procctl_usage(stdout);
		return;
	}
	procctl_synopsis(stdout, cmd);
	printf("%s", cmd->help);
}

static void
procctl_vusage(struct procctl *ctl, const char *fmt, va_list ap)
{
	fprintf(stderr, "procctl: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	if (ctl->cmd == NULL || ctl->cmd == &procctl_global)
		fprintf(stderr, "usage: procctl [--socket PATH] [--json] "
		    "COMMAND [ARG...]\n(procctl --help lists the commands)\n");
	else
		procctl_synopsis(stderr, ctl->cmd);
}

/* Reports a usage error for the current command; returns the exit status. */
int
procctl_usage_error(struct procctl *ctl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	procctl_vusage(ctl, fmt, ap);
	va_end(ap);
	return (PROCCTL_EXIT_USAGE);
}

/* The same, for the parser's helpers, which return -1. */
static int __attribute__((format(printf, 2, 3)))
procctl_fail(struct procctl *ctl, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	procctl_vusage(ctl, fmt, ap);
	va_end(ap);
	return (-1);
}

static const struct procctl_command *
procctl_find(const char *name)
{
	size_t	i;

	for (i = 0; i < PROCCTL_NCOMMANDS; i++) {
		if (strcmp(procctl_commands[i].name, name) == 0)
			return (&procctl_commands[i]);
	}
	return (NULL);
}

/* procctl help [COMMAND]. */
static int
procctl_help_exec(struct procctl *ctl)
{
	const struct procctl_command	*cmd = NULL;

	if (ctl->args.noperands > 0 &&
	    (cmd = procctl_find(ctl->args.operands[0])) == NULL)
		return (procctl_usage_error(ctl, "unknown command: %s",
		    ctl->args.operands[0]));
	procctl_help(cmd);
	return (PROCCTL_EXIT_OK);
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
	static const char *const policies[] = { "no", "on-failure", "always",
	    NULL };
	static const char *const modes[] = { "group", "tree", NULL };
	const char *const	*words;

	words = o->id == OPT_RESTART ? policies : modes;
	for (; *words != NULL; words++) {
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

/* Stores one option's value; -1 after reporting a usage error. */
static int
procctl_option(struct procctl *ctl, const struct procctl_option *o,
    const char *value)
{
	struct procctl_args	*args = &ctl->args;
	json_t			*v, **slot;

	switch (o->id) {
	case OPT_SOCKET:
		args->socket = value;
		break;
	case OPT_JSON:
		args->json = 1;
		break;
	case OPT_HELP:
		procctl_help(ctl->cmd);
		exit(PROCCTL_EXIT_OK);
	case OPT_VERSION:
		printf("procctl %s (protocol %d)\n", PACKAGE_VERSION,
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
	case OPT_STDOUT:
		args->streams |= PROCCTL_STDOUT;
		break;
	case OPT_STDERR:
		args->streams |= PROCCTL_STDERR;
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
static int
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
static int
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

/*
 * How to start procd for the socket procctl could not reach: on the
 * default path, the service manager's units (socket activation); on any
 * other, procd itself on that path.
 */
static void
procctl_hint_start(struct procctl *ctl)
{
	const char	*env = getenv("PROCD_SOCKET");

	if (ctl->args.socket == NULL && (env == NULL || *env == '\0'))
		fprintf(stderr, "(is procd running? start it with: "
		    "systemctl%s start procd.socket, or: procd)\n",
		    getuid() == 0 ? "" : " --user");
	else
		fprintf(stderr, "(is procd running? start it with: "
		    "procd --socket %s)\n", ctl->socket);
}

/* Says why procctl will not talk to what answers on the socket. */
void
procctl_untrusted(struct procctl *ctl, uid_t peer)
{
	fprintf(stderr, "procctl: refusing %s: the daemon there runs as uid "
	    "%u, neither root nor your uid %u; nothing was sent\n",
	    ctl->socket, (unsigned)peer, (unsigned)geteuid());
}

int
procctl_connect(struct procctl *ctl)
{
	uid_t	peer;
	int	error;

	if (ctl->conn != NULL)
		return (0);
	if (ctl->socket == NULL &&
	    (ctl->socket = proto_socket_path(ctl->args.socket)) == NULL) {
		fprintf(stderr, "procctl: cannot resolve the socket path\n");
		return (-1);
	}
	if ((ctl->conn = conn_open(ctl->socket, &peer)) == NULL) {
		error = errno;
		if (error == EPERM) {
			procctl_untrusted(ctl, peer);
			return (-1);
		}
		fprintf(stderr, "procctl: cannot connect to %s: %s ",
		    ctl->socket, strerror(error));
		if (error == EACCES || error == EPERM)
			fprintf(stderr, "(check the socket's owner and mode)\n");
		else if (error == ENAMETOOLONG)
			fprintf(stderr, "(use a shorter --socket path)\n");
		else
			procctl_hint_start(ctl);
		return (-1);
	}
	ctl->conn->sigfd = ctl->sigfd;
	return (0);
}

void
procctl_disconnect(struct procctl *ctl)
{
	conn_free(ctl->conn);
	ctl->conn = NULL;
}

/* Reports that the connection failed or that procd closed it. */
void
procctl_lost(struct procctl *ctl)
{
	if (errno != 0)
		fprintf(stderr, "procctl: connection to %s failed: %s\n",
		    ctl->socket, strerror(errno));
	else
		fprintf(stderr, "procctl: procd closed the connection (%s)\n",
		    ctl->socket);
}

/*
 * Sends a request (stealing params) and waits for its response. Returns 0
 * with *reply, or -1 when procd could not be reached (reported).
 */
int
procctl_request(struct procctl *ctl, const char *method, json_t *params,
    json_t **reply)
{
	json_int_t	id;
	int		r;

	*reply = NULL;
	if (procctl_connect(ctl) == -1) {
		json_decref(params);
		return (-1);
	}
	if ((id = conn_send(ctl->conn, method, params)) == -1) {
		procctl_lost(ctl);
		return (-1);
	}
	while ((r = conn_wait(ctl->conn, id, reply)) == 0)
		ctl->interrupts++;
	if (r == -1) {
		procctl_lost(ctl);
		return (-1);
	}
	return (0);
}

/*
 * The result of a reply (borrowed), or NULL with *code set to the error
 * code (PROTO_INTERNAL_ERROR for a reply that is neither).
 */
json_t *
procctl_reply_result(const json_t *reply, int *code)
{
	json_t	*result, *error, *c;

	result = json_object_get(reply, "result");
	error = json_object_get(reply, "error");
	if (result != NULL && error == NULL)
		return (result);
	c = json_object_get(error, "code");
	*code = json_is_integer(c) ? (int)json_integer_value(c) :
	    PROTO_INTERNAL_ERROR;
	return (NULL);
}

/* Prints an error reply as "procctl: message (code)". */
void
procctl_reply_warn(const json_t *reply)
{
	json_t		*error, *code, *message, *data, *path, *during;
	const char	*text;
	char		 label[128];

	error = json_object_get(reply, "error");
	code = json_object_get(error, "code");
	message = json_object_get(error, "message");
	data = json_object_get(error, "data");
	if (!json_is_object(error)) {
		fprintf(stderr, "procctl: invalid reply from procd\n");
		return;
	}
	if (json_is_string(message))
		text = json_string_value(message);
	else if (json_is_integer(code))
		text = proto_code_message((int)json_integer_value(code));
	else
		text = "error";
	fprintf(stderr, "procctl: ");
	/* A job left by a failed start --wait-ready is named, to be closed. */
	if (json_is_integer(json_object_get(data, PROTO_F_ID))) {
		format_label(data, label, sizeof label);
		fprintf(stderr, "%s: ", label);
	}
	/* A spawn failure says what it failed to do, and on what. */
	path = json_object_get(data, "path");
	during = json_object_get(data, "during");
	if (json_is_string(path)) {
		if (json_is_string(during))
			fprintf(stderr, "%s ", json_string_value(during));
		fprintf(stderr, "%s: ", json_string_value(path));
	}
	fprintf(stderr, "%s", text);
	/* A string in data is detail for people; anything else is not. */
	if (json_is_string(data) && strstr(text, json_string_value(data)) ==
	    NULL)
		fprintf(stderr, ": %s", json_string_value(data));
	if (json_is_integer(code))
		fprintf(stderr, " (%lld)", (long long)json_integer_value(code));
	fputc('\n', stderr);
}

/* A request's result (a new reference), or NULL after reporting why not. */
json_t *
procctl_call(struct procctl *ctl, const char *method, json_t *params)
{
	json_t	*reply, *result;
	int	 code;

	if (procctl_request(ctl, method, params, &reply) == -1)
		return (NULL);
	if ((result = procctl_reply_result(reply, &code)) != NULL)
		json_incref(result);
	else
		procctl_reply_warn(reply);
	json_decref(reply);
	return (result);
}

static void
procctl_clear(struct procctl *ctl)
{
	struct procctl_args	*args = &ctl->args;

	procctl_disconnect(ctl);
	json_decref(args->parent);
	json_decref(args->env);
	json_decref(args->stop_timeout);
	json_decref(args->timeout);
	json_decref(args->restart_delay);
	json_decref(args->restart_max_delay);
	json_decref(args->ready_timeout);
	json_decref(args->states);
	free(args->operands);
	free(ctl->socket);
	if (ctl->sigfd != -1)
		close(ctl->sigfd);
}

/* Finds the command and parses its own options; -1 on a usage error. */
static int
procctl_command(struct procctl *ctl, char ***cmdv)
{
	struct procctl_args	*args = &ctl->args;
	int			 n;

	if (args->noperands == 0) {
		procctl_usage_error(ctl, "missing COMMAND");
		return (-1);
	}
	if ((ctl->cmd = procctl_find(args->operands[0])) == NULL) {
		ctl->cmd = &procctl_global;
		procctl_usage_error(ctl, "unknown command: %s",
		    args->operands[0]);
		return (-1);
	}
	/* The operands after the global options are the command's argv. */
	*cmdv = args->operands;
	n = args->noperands;
	args->operands = NULL;
	if (procctl_parse(ctl, n, *cmdv) == -1 || procctl_operands(ctl) == -1)
		return (-1);
	return (0);
}

int
main(int argc, char **argv)
{
	struct procctl	  ctl;
	char		**cmdv = NULL;
	int		  status = PROCCTL_EXIT_USAGE;

	memset(&ctl, 0, sizeof ctl);
	ctl.args.tail = -1;
	ctl.args.restart_limit = -1;
	ctl.sigfd = -1;

	ctl.cmd = &procctl_global;
	if (argc >= 1 && procctl_parse(&ctl, argc, argv) == 0 &&
	    procctl_command(&ctl, &cmdv) == 0)
		status = ctl.cmd->exec(&ctl);
	free(cmdv);
	procctl_clear(&ctl);

	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "procctl: writing output: %s\n",
		    strerror(errno));
		if (status == PROCCTL_EXIT_OK)
			status = PROCCTL_EXIT_ERROR;
	}
	return (status);
}
