/* SPDX-License-Identifier: ISC */
/*
 * procctl's subcommands, one function each: build the request from the
 * parsed command line, call procd, print the answer and choose the exit
 * status. logs, run and events also follow procd's notifications.
 */

#include "config.h"

#include <sys/signalfd.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/* Reconnection delays of procctl events, in milliseconds. */
#define COMMANDS_RETRY_MIN	100
#define COMMANDS_RETRY_MAX	5000

/* What a log or event notification needs to know while it is followed. */
struct commands_follow {
	struct procctl	*ctl;
	json_int_t	 request;	/* id of the logs request */
	int		 bad;		/* undecodable records were skipped */
	int		 stops;		/* interrupts acted on (run) */

	int		 have_seq;
	json_int_t	 seq;		/* newest event seen */
};

static void
commands_invalid(void)
{
	fprintf(stderr, "procctl: invalid reply from procd\n");
}

/* Prints a result as --json asks or with fn; returns the exit status. */
static int
commands_print(struct procctl *ctl, json_t *result,
    void (*fn)(const json_t *))
{
	if (result == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (ctl->args.json)
		format_json(result);
	else
		fn(result);
	json_decref(result);
	return (PROCCTL_EXIT_OK);
}

/* Params holding only "job", from the first operand; NULL: usage error. */
static json_t *
commands_job_params(struct procctl *ctl)
{
	json_t	*params, *job;

	if ((job = procctl_job(ctl, ctl->args.operands[0])) == NULL)
		return (NULL);
	params = json_object();
	json_object_set_new(params, "job", job);
	return (params);
}

/* A user or group option: all digits is an id, anything else a name. */
static void
commands_set_account(json_t *params, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (value[strspn(value, "0123456789")] == '\0' &&
	    strlen(value) < 10)
		json_object_set_new(params, key, json_integer(atoll(value)));
	else
		json_object_set_new(params, key, json_string(value));
}

static void
commands_set_flag(json_t *params, const char *key, int flag)
{
	if (flag)
		json_object_set_new(params, key, json_true());
}

/* Sets key to a copy of v, if the option was given. */
static void
commands_set_value(json_t *params, const char *key, json_t *v)
{
	if (v != NULL)
		json_object_set(params, key, v);
}

static void
commands_set_word(json_t *params, const char *key, const char *word)
{
	if (word != NULL)
		json_object_set_new(params, key, json_string(word));
}

/*
 * The rules between the supervision options, which procd would refuse
 * too: caught here they are usage errors, before anything starts.
 * restart_max_delay is compared with restart_delay's default when only
 * it is given, as procd does, and only with a restart policy: without
 * one procd takes the delays and ignores them.
 */
static int
commands_supervise_check(struct procctl *ctl)
{
	struct procctl_args	*args = &ctl->args;
	double			 delay = PROTO_RESTART_DELAY;

	if (args->wait_ready && !args->notify) {
		procctl_usage_error(ctl, "--wait-ready needs --notify");
		return (-1);
	}
	if (args->ready_timeout != NULL && !args->wait_ready) {
		procctl_usage_error(ctl, "--ready-timeout needs --wait-ready");
		return (-1);
	}
	if (args->restart_delay != NULL)
		delay = json_number_value(args->restart_delay);
	if (args->restart != NULL && strcmp(args->restart, "no") != 0 &&
	    args->restart_max_delay != NULL &&
	    json_number_value(args->restart_max_delay) < delay) {
		procctl_usage_error(ctl, "--restart-max-delay: less than the "
		    "restart delay (%g s)", delay);
		return (-1);
	}
	return (0);
}

/* The params of protocol sections 10-12: restarts, readiness, kill mode. */
static void
commands_set_supervise(json_t *params, const struct procctl_args *args)
{
	commands_set_word(params, "restart", args->restart);
	commands_set_value(params, "restart_delay", args->restart_delay);
	commands_set_value(params, "restart_max_delay",
	    args->restart_max_delay);
	if (args->restart_limit >= 0)
		json_object_set_new(params, "restart_limit",
		    json_integer(args->restart_limit));
	commands_set_flag(params, "notify", args->notify);
	commands_set_flag(params, "wait_ready", args->wait_ready);
	commands_set_value(params, "ready_timeout", args->ready_timeout);
	commands_set_word(params, "kill_mode", args->kill_mode);
}

/*
 * The job's working folder: --cwd (a relative one is taken from here) or
 * procctl's own. *out stays NULL when there is no folder to send.
 */
static int
commands_cwd(const char *opt, char **out)
{
	char	*here;

	*out = NULL;
	if (opt != NULL && *opt == '/') {
		*out = xstrdup(opt);
		return (0);
	}
	if ((here = getcwd(NULL, 0)) == NULL) {
		if (opt != NULL) {
			fprintf(stderr, "procctl: cannot resolve --cwd %s: "
			    "%s\n", opt, strerror(errno));
			return (-1);
		}
		/* procd then starts the job in "/", which it says. */
		fprintf(stderr, "procctl: cannot find the current folder: %s\n",
		    strerror(errno));
		return (0);
	}
	if (opt == NULL) {
		*out = here;
		return (0);
	}
	if ((*out = realpath(opt, NULL)) == NULL)
		xasprintf(out, "%s/%s", here, opt);
	free(here);
	return (0);
}

/* The params of start (and run); NULL with *status when they cannot be. */
static json_t *
commands_spawn_params(struct procctl *ctl, int *status)
{
	struct procctl_args	*args = &ctl->args;
	json_t			*params, *argv, *v;
	char			*cwd;
	int			 i;

	if (commands_supervise_check(ctl) == -1) {
		*status = PROCCTL_EXIT_USAGE;
		return (NULL);
	}
	params = json_object();
	argv = json_array();
	json_object_set_new(params, "argv", argv);
	for (i = 0; i < args->noperands; i++) {
		if ((v = procctl_string(ctl, args->operands[i])) == NULL)
			goto usage;
		json_array_append_new(argv, v);
	}
	if (args->name != NULL)
		json_object_set_new(params, "name", json_string(args->name));
	commands_set_flag(params, "daemon", args->daemon);
	if (args->parent != NULL)
		json_object_set(params, "parent", args->parent);
	if (args->env != NULL)
		json_object_set(params, "env", args->env);
	if (args->stop_timeout != NULL)
		json_object_set(params, "stop_timeout", args->stop_timeout);
	commands_set_account(params, "user", args->user);
	commands_set_account(params, "group", args->as_group);
	commands_set_supervise(params, args);

	if (commands_cwd(args->cwd, &cwd) == -1) {
		json_decref(params);
		*status = PROCCTL_EXIT_ERROR;
		return (NULL);
	}
	if (cwd != NULL) {
		v = procctl_string(ctl, cwd);
		free(cwd);
		if (v == NULL)
			goto usage;
		json_object_set_new(params, "cwd", v);
	}
	return (params);

usage:
	json_decref(params);
	*status = PROCCTL_EXIT_USAGE;
	return (NULL);
}

/* Reports how a joined job ended and gives its exit status. */
static int
commands_joined(struct procctl *ctl, json_t *job)
{
	int	status;

	if (job == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (ctl->args.json) {
		format_json(job);
		status = proto_job_exit_status(job);
	} else
		status = format_join(job);
	json_decref(job);
	if (status == -1) {
		commands_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	return (status);
}

int
commands_start(struct procctl *ctl)
{
	json_t	*params, *job, *id;
	int	 status;

	if ((params = commands_spawn_params(ctl, &status)) == NULL)
		return (status);
	if ((job = procctl_call(ctl, "start", params)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (ctl->args.json)
		format_json(job);
	else
		format_start(job);
	if (!ctl->args.wait) {
		json_decref(job);
		return (PROCCTL_EXIT_OK);
	}

	id = json_object_get(job, PROTO_F_ID);
	if (!json_is_integer(id)) {
		json_decref(job);
		commands_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	params = json_object();
	json_object_set(params, "job", id);
	json_decref(job);
	/* Whoever watches should see the start before the long wait. */
	fflush(stdout);
	return (commands_joined(ctl, procctl_call(ctl, "join", params)));
}

int
commands_join(struct procctl *ctl)
{
	json_t	*params;

	if ((params = commands_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	if (ctl->args.timeout != NULL)
		json_object_set(params, "timeout", ctl->args.timeout);
	return (commands_joined(ctl, procctl_call(ctl, "join", params)));
}

/* terminate and kill: same params, same answer. */
static int
commands_stop(struct procctl *ctl, const char *method, const char *verb)
{
	json_t	*params, *job;

	if ((params = commands_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	commands_set_flag(params, "recursive", ctl->args.recursive);
	if ((job = procctl_call(ctl, method, params)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (ctl->args.json)
		format_json(job);
	else
		format_stop(job, verb, ctl->args.recursive);
	json_decref(job);
	return (PROCCTL_EXIT_OK);
}

int
commands_terminate(struct procctl *ctl)
{
	return (commands_stop(ctl, "terminate", "terminating"));
}

int
commands_kill(struct procctl *ctl)
{
	return (commands_stop(ctl, "kill", "killing"));
}

int
commands_signal(struct procctl *ctl)
{
	const char	*arg = ctl->args.operands[1], *abbrev;
	json_t		*params, *sig, *job;
	char		 name[64];
	int		 signo;

	if (*arg != '\0' && strspn(arg, "0123456789") == strlen(arg))
		sig = json_integer(strlen(arg) > 3 ? 0 : atoi(arg));
	else
		sig = json_string(arg);
	if ((signo = proto_signal_parse(sig)) <= 0) {
		json_decref(sig);
		return (procctl_usage_error(ctl, "not a signal: %s", arg));
	}
	if ((params = commands_job_params(ctl)) == NULL) {
		json_decref(sig);
		return (PROCCTL_EXIT_USAGE);
	}
	json_object_set_new(params, "signal", sig);
	commands_set_flag(params, "group", ctl->args.group);
	if ((job = procctl_call(ctl, "signal", params)) == NULL)
		return (PROCCTL_EXIT_ERROR);

	if ((abbrev = proto_signal_name(signo)) != NULL)
		snprintf(name, sizeof name, "SIG%s", abbrev);
	else
		snprintf(name, sizeof name, "signal %d", signo);
	if (ctl->args.json)
		format_json(job);
	else
		format_signal(job, name, ctl->args.group);
	json_decref(job);
	return (PROCCTL_EXIT_OK);
}

static void
commands_closed(const json_t *job)
{
	char	label[128];

	format_label(job, label, sizeof label);
	printf("closed %s\n", label);
}

int
commands_close(struct procctl *ctl)
{
	json_t	*params;

	if ((params = commands_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	return (commands_print(ctl, procctl_call(ctl, "close", params),
	    commands_closed));
}

int
commands_status(struct procctl *ctl)
{
	json_t	*params;

	if ((params = commands_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	return (commands_print(ctl, procctl_call(ctl, "status", params),
	    format_job));
}

int
commands_list(struct procctl *ctl)
{
	json_t	*params, *jobs, *job;
	size_t	 i;

	params = json_object();
	if (ctl->args.states != NULL)
		json_object_set(params, "state", ctl->args.states);
	if (ctl->args.parent != NULL)
		json_object_set(params, "parent", ctl->args.parent);
	if ((jobs = procctl_call(ctl, "list", params)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (!json_is_array(jobs)) {
		json_decref(jobs);
		commands_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	if (ctl->args.json) {
		json_array_foreach(jobs, i, job)
			format_json(job);
	} else
		format_list(jobs);
	json_decref(jobs);
	return (PROCCTL_EXIT_OK);
}

int
commands_info(struct procctl *ctl)
{
	return (commands_print(ctl, procctl_call(ctl, "info", NULL),
	    format_info));
}

/*
 * The answer comes from the new image once it serves, over the same
 * connection, so there is nothing to wait for but the reply.
 */
int
commands_reexec(struct procctl *ctl)
{
	return (commands_print(ctl, procctl_call(ctl, "reexec", NULL),
	    format_reexec));
}

/* call prints JSON whatever --json says: its caller speaks JSON-RPC. */
int
commands_call(struct procctl *ctl)
{
	const char	*method = ctl->args.operands[0];
	json_error_t	 error;
	json_t		*params = NULL, *result, *v;

	if ((v = procctl_string(ctl, method)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	json_decref(v);
	if (ctl->args.noperands > 1) {
		params = json_loads(ctl->args.operands[1], JSON_DECODE_ANY,
		    &error);
		if (params == NULL)
			return (procctl_usage_error(ctl, "JSON-PARAMS: %s "
			    "(at character %d)", error.text, error.position));
	}
	if ((result = procctl_call(ctl, method, params)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	format_json(result);
	json_decref(result);
	return (PROCCTL_EXIT_OK);
}

static void
commands_write(int fd, const unsigned char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		data += n;
		len -= n;
	}
}

/* Writes one log record's bytes to the stream it came from. */
static void
commands_record(struct commands_follow *f, const json_t *record)
{
	json_t		*stream, *data;
	unsigned char	*bytes;
	ssize_t		 n;
	int		 fd;

	stream = json_object_get(record, "stream");
	data = json_object_get(record, "data");
	if (!json_is_string(stream) || !json_is_string(data))
		return;
	if (strcmp(json_string_value(stream), "stdout") == 0)
		fd = STDOUT_FILENO;
	else if (strcmp(json_string_value(stream), "stderr") == 0)
		fd = STDERR_FILENO;
	else
		return;
	bytes = xmalloc(json_string_length(data) / 4 * 3 + 3);
	n = proto_base64_decode(json_string_value(data),
	    json_string_length(data), bytes);
	if (n == -1) {
		free(bytes);
		if (!f->bad)
			fprintf(stderr, "procctl: skipped a log record that "
			    "is not base64\n");
		f->bad = 1;
		return;
	}
	commands_write(fd, bytes, n);
	free(bytes);
}

static void
commands_log_notify(const char *method, json_t *params, void *arg)
{
	struct commands_follow	*f = arg;
	json_t			*request;

	if (strcmp(method, "log") != 0)
		return;
	request = json_object_get(params, "request");
	if (json_is_integer(request) && json_integer_value(request) ==
	    f->request)
		commands_record(f, params);
}

/* Sends a logs request for job (stealing it); returns its id or -1. */
static json_int_t
commands_logs_send(struct procctl *ctl, struct commands_follow *f,
    json_t *job)
{
	struct procctl_args	*args = &ctl->args;
	json_t			*params;

	if (procctl_connect(ctl) == -1) {
		json_decref(job);
		return (-1);
	}
	params = json_object();
	json_object_set_new(params, "job", job);
	json_object_set_new(params, "encoding", json_string("base64"));
	if (args->streams == PROCCTL_STDOUT)
		json_object_set_new(params, "stream", json_string("stdout"));
	else if (args->streams == PROCCTL_STDERR)
		json_object_set_new(params, "stream", json_string("stderr"));
	if (args->tail >= 0)
		json_object_set_new(params, "tail", json_integer(args->tail));
	commands_set_flag(params, "follow", args->follow);

	f->ctl = ctl;
	ctl->conn->notify = commands_log_notify;
	ctl->conn->notify_arg = f;
	if ((f->request = conn_send(ctl->conn, "logs", params)) == -1)
		procctl_lost(ctl);
	return (f->request);
}

int
commands_logs(struct procctl *ctl)
{
	struct commands_follow	 f;
	json_t			*job, *reply, *result, *record;
	size_t			 i;
	int			 r, code;

	memset(&f, 0, sizeof f);
	if ((job = procctl_job(ctl, ctl->args.operands[0])) == NULL)
		return (PROCCTL_EXIT_USAGE);
	if (commands_logs_send(ctl, &f, job) == -1)
		return (PROCCTL_EXIT_ERROR);
	while ((r = conn_wait(ctl->conn, f.request, &reply)) == 0)
		ctl->interrupts++;
	if (r == -1) {
		procctl_lost(ctl);
		return (PROCCTL_EXIT_ERROR);
	}
	if ((result = procctl_reply_result(reply, &code)) == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (PROCCTL_EXIT_ERROR);
	}
	/* With follow the records came as notifications, already written. */
	json_array_foreach(json_object_get(result, "records"), i, record)
		commands_record(&f, record);
	json_decref(reply);
	return (PROCCTL_EXIT_OK);
}

/* Blocks SIGINT and SIGTERM and takes them from a signalfd instead. */
static int
commands_catch(struct procctl *ctl)
{
	sigset_t	set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &set, NULL) == -1 ||
	    (ctl->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) ==
	    -1) {
		fprintf(stderr, "procctl: cannot catch signals: %s\n",
		    strerror(errno));
		return (-1);
	}
	if (ctl->conn != NULL)
		ctl->conn->sigfd = ctl->sigfd;
	return (0);
}

/* Sleeps ms milliseconds; -1 if an interrupt came first. */
static int
commands_sleep(struct procctl *ctl, int ms)
{
	struct signalfd_siginfo	si;
	struct pollfd		pfd;

	pfd.fd = ctl->sigfd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, ms) == 1 &&
	    read(ctl->sigfd, &si, sizeof si) == sizeof si) {
		ctl->interrupts++;
		return (-1);
	}
	return (0);
}

/* The first interrupt of run terminates the job, the second kills it. */
static void
commands_run_stop(struct procctl *ctl, json_t *id, int n)
{
	json_t	*params;

	if (n > 2)
		return;
	params = json_object();
	json_object_set(params, "job", id);
	/* The answer is not awaited; the job's end is what counts. */
	conn_send(ctl->conn, n == 1 ? "terminate" : "kill", params);
}

/* Waits for the response to request, acting on interrupts meanwhile. */
static int
commands_run_wait(struct procctl *ctl, struct commands_follow *f, json_t *id,
    json_int_t request, json_t **reply)
{
	int	r;

	for (;;) {
		while (f->stops < ctl->interrupts)
			commands_run_stop(ctl, id, ++f->stops);
		if ((r = conn_wait(ctl->conn, request, reply)) == 1)
			return (0);
		if (r == -1) {
			procctl_lost(ctl);
			return (-1);
		}
		ctl->interrupts++;
	}
}

/* Waits until the job's output is complete and returns its status. */
static int
commands_run_follow(struct procctl *ctl, struct commands_follow *f,
    json_t *id)
{
	json_t	*reply, *result;
	int	 code, status;

	if (commands_run_wait(ctl, f, id, f->request, &reply) == -1)
		return (PROCCTL_EXIT_ERROR);
	if ((result = procctl_reply_result(reply, &code)) == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (PROCCTL_EXIT_ERROR);
	}
	status = proto_job_exit_status(json_object_get(result, "job"));
	json_decref(reply);
	if (status == -1) {
		commands_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	return (status);
}

/*
 * The id of the job a pending start made, asked by its name; NULL when
 * start has answered meanwhile or the question failed. procd answers a
 * connection's requests in order unless it parks one (start with
 * wait_ready), so a status answer that comes before start's means start
 * was parked and the job of that name is the one it made, not another
 * one holding the name, which start would have refused at once.
 */
static json_t *
commands_run_probe(struct procctl *ctl, json_t *name, json_int_t start)
{
	json_t		*params, *reply, *result, *id = NULL;
	json_int_t	 probe;
	int		 code, r;

	params = json_object();
	json_object_set(params, "job", name);
	if ((probe = conn_send(ctl->conn, "status", params)) == -1)
		return (NULL);
	while ((r = conn_wait(ctl->conn, probe, &reply)) == 0)
		ctl->interrupts++;
	if (r == -1)
		return (NULL);
	if (!conn_stashed(ctl->conn, start) &&
	    (result = procctl_reply_result(reply, &code)) != NULL &&
	    json_is_integer(id = json_object_get(result, PROTO_F_ID)))
		json_incref(id);
	else
		id = NULL;
	json_decref(reply);
	return (id);
}

/*
 * Waits for the answer to start, which comes only once the job is ready
 * with --wait-ready. An interrupt meanwhile stops the job as it would
 * later, once its id is known.
 */
static int
commands_run_start_wait(struct procctl *ctl, struct commands_follow *f,
    json_t *name, json_int_t request, json_t **reply)
{
	json_t	*id = NULL;
	int	 r;

	while ((r = conn_wait(ctl->conn, request, reply)) == 0) {
		ctl->interrupts++;
		if ((id = commands_run_probe(ctl, name, request)) != NULL)
			break;
	}
	if (id != NULL) {
		r = commands_run_wait(ctl, f, id, request, reply);
		json_decref(id);
		return (r);
	}
	if (r == -1) {
		procctl_lost(ctl);
		return (-1);
	}
	return (0);
}

/*
 * The job of an error answer to start that leaves one behind (-32005 with
 * --wait-ready: it exited before it was ready, or was not ready in time),
 * or NULL.
 */
static json_t *
commands_error_job(const json_t *reply)
{
	json_t	*error, *data;

	error = json_object_get(reply, "error");
	data = json_object_get(error, "data");
	if (!json_is_integer(json_object_get(error, "code")) ||
	    json_integer_value(json_object_get(error, "code")) !=
	    PROTO_SPAWN_FAILED ||
	    !json_is_integer(json_object_get(data, PROTO_F_ID)))
		return (NULL);
	return (json_incref(data));
}

/*
 * Sends start and a logs follow for the same job, by name, in one write:
 * procd takes both before it next reads the job's pipes, so no output is
 * lost however much the job writes at once. Without --name, a name is
 * made from procctl's pid. Returns the start reply, or NULL (with a
 * message) and sets *retry when that made-up name was taken. After an
 * error that leaves a job behind, returns that job and sets *failed.
 */
static json_t *
commands_run_start(struct procctl *ctl, json_t *params, int made,
    struct commands_follow *f, int *retry, int *failed)
{
	json_t		*reply, *result, *name;
	json_int_t	 request;
	int		 code;

	*retry = *failed = 0;
	name = json_object_get(params, "name");
	if (procctl_connect(ctl) == -1)
		return (NULL);
	conn_cork(ctl->conn);
	request = conn_send(ctl->conn, "start", json_incref(params));
	ctl->args.follow = 1;
	if (request == -1 || commands_logs_send(ctl, f,
	    json_incref(name)) == -1 || conn_uncork(ctl->conn) == -1) {
		procctl_lost(ctl);
		return (NULL);
	}
	if (commands_run_start_wait(ctl, f, name, request, &reply) == -1)
		return (NULL);
	if ((result = procctl_reply_result(reply, &code)) != NULL) {
		json_incref(result);
		json_decref(reply);
		return (result);
	}
	result = commands_error_job(reply);
	/*
	 * A job interrupted before it was ready ends as run's interrupts
	 * always make it end, and its status says so; no need to tell.
	 */
	if (result != NULL && ctl->interrupts > 0) {
		json_decref(reply);
		return (result);
	}
	if (made && code == PROTO_NAME_IN_USE)
		*retry = 1;
	else {
		procctl_reply_warn(reply);
		*failed = result != NULL;
	}
	json_decref(reply);
	return (result);
}

int
commands_run(struct procctl *ctl)
{
	struct commands_follow	 f;
	json_t			*params, *job = NULL, *id;
	char			 name[64];
	int			 status, made, retry = 1, attempt, failed = 0;

	if ((params = commands_spawn_params(ctl, &status)) == NULL)
		return (status);
	if (commands_catch(ctl) == -1) {
		json_decref(params);
		return (PROCCTL_EXIT_ERROR);
	}
	made = json_object_get(params, "name") == NULL;
	for (attempt = 0; retry && attempt < 100; attempt++) {
		if (made) {
			snprintf(name, sizeof name, attempt == 0 ? "run-%ld" :
			    "run-%ld-%d", (long)getpid(), attempt);
			json_object_set_new(params, "name", json_string(name));
		}
		memset(&f, 0, sizeof f);
		job = commands_run_start(ctl, params, made, &f, &retry,
		    &failed);
	}
	json_decref(params);
	if (job == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (!json_is_integer(id = json_object_get(job, PROTO_F_ID))) {
		json_decref(job);
		commands_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	json_incref(id);
	json_decref(job);
	/*
	 * A job that was not ready still runs its course (its output, its
	 * restarts) as run shows it, but start failed, which the status says.
	 */
	status = commands_run_follow(ctl, &f, id);
	json_decref(id);
	return (failed ? PROCCTL_EXIT_ERROR : status);
}

static void
commands_event_notify(const char *method, json_t *params, void *arg)
{
	struct commands_follow	*f = arg;
	json_t			*seq, *event;

	if (strcmp(method, "event") != 0 || !json_is_object(params))
		return;
	seq = json_object_get(params, "seq");
	event = json_object_get(params, "event");
	if (!json_is_integer(seq))
		return;
	/* A replay after a reconnection must not repeat what was shown. */
	if (f->have_seq && json_integer_value(seq) <= f->seq)
		return;
	f->seq = json_integer_value(seq);
	if (json_is_string(event) &&
	    strcmp(json_string_value(event), "gap") == 0 &&
	    json_is_integer(json_object_get(params, "to")) &&
	    json_integer_value(json_object_get(params, "to")) > f->seq)
		f->seq = json_integer_value(json_object_get(params, "to"));
	f->have_seq = 1;

	if (f->ctl->args.json)
		format_json(params);
	else
		format_event(params);
	fflush(stdout);
}

/*
 * Tells one procd from the next by its pid and start time: after a
 * restart the sequence numbers start again and since means nothing.
 * Returns 0, 1 when the connection failed, -1 on an error reply.
 */
static int
commands_identity(struct procctl *ctl, char **out)
{
	json_t		*reply, *info, *pid, *started;
	int		 code;

	if (procctl_request(ctl, "info", NULL, &reply) == -1)
		return (1);
	if ((info = procctl_reply_result(reply, &code)) == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (-1);
	}
	pid = json_object_get(info, "pid");
	started = json_object_get(info, "started_at");
	xasprintf(out, "%lld %s", json_is_integer(pid) ?
	    (long long)json_integer_value(pid) : 0LL, json_is_string(started) ?
	    json_string_value(started) : "");
	json_decref(reply);
	return (0);
}

/*
 * Subscribes on a new connection, asking for what was missed when it is
 * still the same procd. Returns 0, 1 when the connection failed (try
 * again) and -1 on an error reply.
 */
static int
commands_subscribe(struct procctl *ctl, struct commands_follow *f,
    json_t *jobs, char **identity)
{
	json_t	*params, *reply, *result, *seq;
	char	*id;
	int	 r, code, since;

	if ((r = commands_identity(ctl, &id)) != 0)
		return (r);
	if (*identity != NULL && strcmp(*identity, id) != 0) {
		fprintf(stderr, "procctl: procd restarted; events may have "
		    "been lost\n");
		f->have_seq = 0;
	}
	free(*identity);
	*identity = id;

	for (;;) {
		params = json_object();
		if (jobs != NULL)
			json_object_set(params, "jobs", jobs);
		if ((since = f->have_seq))
			json_object_set_new(params, "since",
			    json_integer(f->seq));
		if (procctl_request(ctl, "subscribe", params, &reply) == -1)
			return (1);
		result = procctl_reply_result(reply, &code);
		if (result != NULL || !since || code != PROTO_INVALID_PARAMS)
			break;
		/* A since procd never reached: it restarted after all. */
		json_decref(reply);
		fprintf(stderr, "procctl: procd restarted; events may have "
		    "been lost\n");
		f->have_seq = 0;
	}
	if (result == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (-1);
	}
	seq = json_object_get(result, "seq");
	if (!f->have_seq && json_is_integer(seq)) {
		f->seq = json_integer_value(seq);
		f->have_seq = 1;
	}
	json_decref(reply);
	return (0);
}

/* Shows events until interrupted or an error reply; -1 for the latter. */
static int
commands_events_loop(struct procctl *ctl, struct commands_follow *f,
    json_t *jobs)
{
	json_t	*reply;
	char	*identity = NULL;
	uid_t	 peer;
	int	 r, error = 0, delay = COMMANDS_RETRY_MIN, dropped = 0;

	for (;;) {
		if (ctl->conn == NULL) {
			if (commands_sleep(ctl, delay) == -1)
				break;
			if (delay < COMMANDS_RETRY_MAX / 2)
				delay *= 2;
			else
				delay = COMMANDS_RETRY_MAX;
			if ((ctl->conn = conn_open(ctl->socket, &peer)) ==
			    NULL) {
				if (errno != EPERM)
					continue;
				procctl_untrusted(ctl, peer);
				error = 1;
				break;
			}
			ctl->conn->sigfd = ctl->sigfd;
		}
		ctl->conn->notify = commands_event_notify;
		ctl->conn->notify_arg = f;
		if ((r = commands_subscribe(ctl, f, jobs, &identity)) == -1) {
			error = 1;
			break;
		}
		if (ctl->interrupts > 0)
			break;
		if (r == 0) {
			if (dropped)
				fprintf(stderr, "procctl: reconnected to %s\n",
				    ctl->socket);
			dropped = 0;
			delay = COMMANDS_RETRY_MIN;
			if (conn_wait(ctl->conn, 0, &reply) == 0) {
				ctl->interrupts++;
				break;
			}
			procctl_lost(ctl);
		}
		if (!dropped)
			fprintf(stderr, "procctl: reconnecting to %s\n",
			    ctl->socket);
		dropped = 1;
		procctl_disconnect(ctl);
	}
	free(identity);
	return (error ? -1 : 0);
}

int
commands_events(struct procctl *ctl)
{
	struct commands_follow	 f;
	json_t			*jobs = NULL, *v;
	int			 i, status = PROCCTL_EXIT_OK;

	memset(&f, 0, sizeof f);
	f.ctl = ctl;
	if (ctl->args.noperands > 0)
		jobs = json_array();
	for (i = 0; i < ctl->args.noperands; i++) {
		if ((v = procctl_job(ctl, ctl->args.operands[i])) == NULL) {
			json_decref(jobs);
			return (PROCCTL_EXIT_USAGE);
		}
		json_array_append_new(jobs, v);
	}
	/* Only the first connection must succeed; later ones are retried. */
	if (commands_catch(ctl) == -1 || procctl_connect(ctl) == -1 ||
	    commands_events_loop(ctl, &f, jobs) == -1)
		status = PROCCTL_EXIT_ERROR;
	json_decref(jobs);
	return (status);
}
