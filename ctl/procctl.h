/* SPDX-License-Identifier: ISC */
/*
 * procctl, the command-line client of procd: declarations shared by its
 * option parsing, its connection to the daemon, its output formatting and
 * its subcommands.
 */

#ifndef PROCCTL_H
#define PROCCTL_H

#include <stddef.h>
#include <jansson.h>

#define PROCCTL_EXIT_OK		0
#define PROCCTL_EXIT_ERROR	1
#define PROCCTL_EXIT_USAGE	2

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

	void		(*notify)(const char *, json_t *, void *);
	void		*notify_arg;
};

/* The options and operands of one command line, already checked. */
struct procctl_args {
	const char	*socket;
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
	json_t		*timeout;
	int		 recursive;
	int		 group;
	json_t		*states;
	int		 follow;
	json_int_t	 tail;		/* -1: every line */
	int		 streams;
#define PROCCTL_STDOUT	0x1
#define PROCCTL_STDERR	0x2

	char		**operands;
	int		 noperands;
};

struct procctl;

struct procctl_command {
	const char	*name;
	const char	*synopsis;	/* a '\n' marks where to wrap */
	const char	*help;
	int		 options;	/* bits of the options it takes */
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

/* procctl.c */
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);
char		*xstrdup(const char *);
int		 xasprintf(char **, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
int		 procctl_usage_error(struct procctl *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
json_t		*procctl_job(struct procctl *, const char *);
json_t		*procctl_string(struct procctl *, const char *);
int		 procctl_connect(struct procctl *);
void		 procctl_untrusted(struct procctl *, uid_t);
void		 procctl_disconnect(struct procctl *);
int		 procctl_request(struct procctl *, const char *, json_t *,
		     json_t **);
json_t		*procctl_reply_result(const json_t *, int *);
void		 procctl_reply_warn(const json_t *);
json_t		*procctl_call(struct procctl *, const char *, json_t *);
void		 procctl_lost(struct procctl *);

/* conn.c */
struct conn	*conn_open(const char *, uid_t *);
void		 conn_free(struct conn *);
json_int_t	 conn_send(struct conn *, const char *, json_t *);
void		 conn_cork(struct conn *);
int		 conn_uncork(struct conn *);
int		 conn_wait(struct conn *, json_int_t, json_t **);
int		 conn_stashed(struct conn *, json_int_t);

/* format.c */
void		 format_json(const json_t *);
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

/* commands.c */
int		 commands_start(struct procctl *);
int		 commands_run(struct procctl *);
int		 commands_join(struct procctl *);
int		 commands_terminate(struct procctl *);
int		 commands_kill(struct procctl *);
int		 commands_signal(struct procctl *);
int		 commands_close(struct procctl *);
int		 commands_status(struct procctl *);
int		 commands_list(struct procctl *);
int		 commands_info(struct procctl *);
int		 commands_reexec(struct procctl *);
int		 commands_call(struct procctl *);
int		 commands_logs(struct procctl *);
int		 commands_events(struct procctl *);

#endif /* PROCCTL_H */
