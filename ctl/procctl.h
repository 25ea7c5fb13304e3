/* SPDX-License-Identifier: ISC */
/*
 * procctl, the command-line client of procd: declarations shared by its
 * option parsing, its connection to the daemon, its output formatting and
 * its subcommands.
 */

#ifndef PROCCTL_H
#define PROCCTL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <stdarg.h>

#include <jansson.h>

#define PROCCTL_EXIT_OK		0
#define PROCCTL_EXIT_ERROR	1
#define PROCCTL_EXIT_USAGE	2

/*
 * Another fd a connection's wait watches (top's keys, timer, SIGWINCH):
 * fn runs when fd is readable and must take what made it so; a nonzero
 * return ends the wait, and conn_wait returns CONN_WATCHED.
 */
struct conn_watch {
	int		 fd;
	int		(*fn)(int, void *);
	void		*arg;
};
#define CONN_WATCH_MAX	4
#define CONN_WATCHED	2

/*
 * One connection to procd. Responses that arrive while another one is
 * awaited are kept in stash; notifications go to notify as they come.
 */
struct conn {
	int		 fd;
	int		 sigfd;		/* -1, or a signalfd that interrupts */
	int		 eof;

	char		*buf;
	size_t		 off;		/* start of the unread input */
	size_t		 len;		/* end of the unread input */
	size_t		 size;

	json_int_t	 next_id;
	json_t		*stash;

	int		 corked;	/* requests wait in out for one write */
	char		*out;
	size_t		 outlen;

	size_t		 pending;	/* requests not answered yet */
	int		 heard;		/* procd has sent something */
	pid_t		 child;		/* -1, or the ssh carrying it (-H) */
	int		 child_status;	/* its wait status, once reaped */

	void		(*notify)(const char *, json_t *, void *);
	void		*notify_arg;

	struct conn_watch watch[CONN_WATCH_MAX];
	int		 nwatch;
};

/* Every option procctl knows; each command takes some of them. */
enum procctl_opt {
	OPT_SOCKET,
	OPT_HOST,
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
	OPT_KILL_MODE,
	OPT_RM,
	OPT_DELAY,
	OPT_ITERATIONS,
	OPT__COUNT		/* how many there are */
};
/* One entry of the table of options (options.c). */
struct procctl_option {
	const char	*name;
	int		 letter;
	int		 has_arg;
	enum procctl_opt id;
};

/* A command's options are the bits of one 64-bit word. */
#define OPT(o)		(UINT64_C(1) << (o))
_Static_assert(OPT__COUNT <= 64, "too many options for a word of bits");
/* Every subcommand takes these, so they may also follow COMMAND. */
#define OPT_COMMON	(OPT(OPT_SOCKET) | OPT(OPT_HOST) | OPT(OPT_JSON) | \
    OPT(OPT_HELP))
#define OPT_SPAWN	(OPT(OPT_NAME) | OPT(OPT_DAEMON) | OPT(OPT_PARENT) | \
    OPT(OPT_ENV) | OPT(OPT_UNSET) | OPT(OPT_CWD) | OPT(OPT_STOP_TIMEOUT) | \
    OPT(OPT_AS_USER) | OPT(OPT_AS_GROUP) | OPT_SUPERVISE)
/* start and run: how procd supervises the job (protocol sections 10-12). */
#define OPT_SUPERVISE	(OPT(OPT_RESTART) | OPT(OPT_RESTART_DELAY) | \
    OPT(OPT_RESTART_MAX_DELAY) | OPT(OPT_RESTART_LIMIT) | OPT(OPT_NOTIFY) | \
    OPT(OPT_WAIT_READY) | OPT(OPT_READY_TIMEOUT) | OPT(OPT_KILL_MODE))


/* start and run: the synopsis and help of the options they share. */
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

/* The options and operands of one command line, already checked. */
struct procctl_args {
	const char	*socket;
	const char	*host;		/* -H [USER@]HOST[:SOCKET] */
	int		 json;

	const char	*name;
	int		 daemon;
	json_t		*parent;
	json_t		*env;
	const char	*cwd;
	json_t		*stop_timeout;
	const char	*user;		/* start --user */
	const char	*as_group;	/* start --group */
	const char	*restart;	/* start --restart: a policy */
	json_t		*restart_delay;
	json_t		*restart_max_delay;
	json_int_t	 restart_limit;	/* -1: no limit given */
	int		 notify;
	int		 wait_ready;
	json_t		*ready_timeout;
	const char	*kill_mode;
	int		 wait;
	int		 rm;		/* run --rm */
	json_t		*timeout;
	int		 recursive;
	int		 group;
	json_t		*states;
	int		 follow;
	json_int_t	 tail;		/* -1: every line */
	int		 streams;
#define PROCCTL_STDOUT	0x1
#define PROCCTL_STDERR	0x2
	double		 delay;		/* top --delay, seconds */
	json_int_t	 iterations;	/* top -n */
	uint64_t	 given;		/* OPT() bits of the options given */

	char		**operands;
	int		 noperands;
};

struct procctl;

struct procctl_command {
	const char	*name;
	const char	*synopsis;	/* a '\n' marks where to wrap */
	const char	*help;
	uint64_t	 options;	/* OPT() bits of the options it takes */
	const char	*required;	/* names of the required operands */
	int		 max;		/* most operands; -1: no limit */
	int		 in_order;	/* the first operand ends the options */
	int		(*exec)(struct procctl *);
};

struct procctl {
	const struct procctl_command	*cmd;
	struct procctl_args		 args;
	char				*socket;	/* resolved path */
	struct conn			*conn;
	int				 sigfd;		/* -1 unless caught */
	int				 interrupts;
};

/*
 * What a log or event notification needs to know while logs, run or
 * events follow it.
 */
struct cmd_follow {
	struct procctl	*ctl;
	json_int_t	 request;	/* id of the logs request */
	int		 bad;		/* undecodable records were skipped */
	int		 stops;		/* interrupts acted on (run) */

	int		 have_seq;
	json_int_t	 seq;		/* newest event seen */
};

/* procctl.c */
extern const struct procctl_command *const procctl_commands[];
extern const struct procctl_command *const procctl_hidden_commands[];
extern const struct procctl_command procctl_global;
const struct procctl_command *procctl_find(const char *);
void		 procctl_help(const struct procctl_command *);
void		 procctl_vusage(struct procctl *, const char *, va_list);
int		 procctl_usage_error(struct procctl *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));

/* options.c */
int		 procctl_parse(struct procctl *, int, char **);
int		 procctl_host_split(const char *, char **, char **, char **,
		     const char **);
int		 procctl_operands(struct procctl *);
json_t		*procctl_job(struct procctl *, const char *);
json_t		*procctl_string(struct procctl *, const char *);
const struct procctl_option *procctl_option_next(const struct procctl_command *,
		     size_t *);
const char *const *procctl_option_words(enum procctl_opt);

/* xmalloc.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));

/* client.c */
int		 procctl_connect(struct procctl *);
struct conn	*procctl_open(struct procctl *, uid_t *);
void		 procctl_untrusted(struct procctl *, uid_t);
void		 procctl_disconnect(struct procctl *);
int		 procctl_request(struct procctl *, const char *, json_t *,
		     json_t **);
json_t		*procctl_reply_result(const json_t *, int *);
void		 procctl_reply_warn(const json_t *);
json_t		*procctl_call(struct procctl *, const char *, json_t *);
void		 procctl_lost(struct procctl *);

/* conn.c */
struct conn	*conn_open(const char *, uid_t *, int);
struct conn	*conn_spawn(char *const *);
int		 conn_child_status(struct conn *);
void		 conn_free(struct conn *);
json_int_t	 conn_send(struct conn *, const char *, json_t *);
void		 conn_cork(struct conn *);
int		 conn_uncork(struct conn *);
int		 conn_wait(struct conn *, json_int_t, json_t **);
int		 conn_stashed(struct conn *, json_int_t);
int		 conn_watch(struct conn *, int, int (*)(int, void *), void *);

/* format.c */
void		 format_json(const json_t *);
char		*format_cell_int(const json_t *, const char *, const char *);
void		 format_label(const json_t *, char *, size_t);
void		 format_job(const json_t *);
void		 format_start(const json_t *);
int		 format_join(const json_t *);
void		 format_stop(const json_t *, const char *, int);
void		 format_signal(const json_t *, const char *, int);
void		 format_list(const json_t *);
void		 format_info(const json_t *);
void		 format_reexec(const json_t *);
void		 format_event(const json_t *);
void		 format_exit(const json_t *, char *, size_t);
time_t		 format_parse_time(const char *);
void		 format_span(time_t, char *, size_t);
void		 format_now(char *, size_t);
char		*format_words(const json_t *);

/* cmd.c: what several commands share */
void		 cmd_invalid(void);
int		 cmd_print(struct procctl *, json_t *,
		     void (*)(const json_t *));
json_t		*cmd_job_params(struct procctl *);
void		 cmd_set_flag(json_t *, const char *, int);
int		 cmd_joined(struct procctl *, json_t *);
int		 cmd_catch(struct procctl *);
int		 cmd_sleep(struct procctl *, int);
/* cmd-start.c */
json_t		*cmd_spawn_params(struct procctl *, int *);
/* cmd-logs.c */
json_int_t	 cmd_logs_send(struct procctl *, struct cmd_follow *, json_t *);

/* cmd-*.c: one entry each in the table of commands */
extern const struct procctl_command cmd_start_entry;
extern const struct procctl_command cmd_run_entry;
extern const struct procctl_command cmd_join_entry;
extern const struct procctl_command cmd_terminate_entry;
extern const struct procctl_command cmd_kill_entry;
extern const struct procctl_command cmd_signal_entry;
extern const struct procctl_command cmd_close_entry;
extern const struct procctl_command cmd_status_entry;
extern const struct procctl_command cmd_list_entry;
extern const struct procctl_command cmd_info_entry;
extern const struct procctl_command cmd_reexec_entry;
extern const struct procctl_command cmd_call_entry;
extern const struct procctl_command cmd_methods_entry;
extern const struct procctl_command cmd_logs_entry;
extern const struct procctl_command cmd_events_entry;
extern const struct procctl_command cmd_subscribe_entry;
extern const struct procctl_command cmd_help_entry;
extern const struct procctl_command cmd_bridge_entry;
extern const struct procctl_command cmd_top_entry;
extern const struct procctl_command cmd_complete_entry;

#endif /* PROCCTL_H */
