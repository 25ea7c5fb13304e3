/* SPDX-License-Identifier: ISC */
/*
 * procctl top: a live table of the jobs with the CPU and memory of their
 * processes. On a terminal it is full-screen, kept current by events (a
 * change shows at once) and by a list every --delay (for the figures);
 * otherwise it prints one plain table, or JSON object, per interval.
 */

#include "config.h"

#include <sys/signalfd.h>
#include <sys/timerfd.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"
#include "top.h"

#define CMD_TOP_DELAY		1.0	/* seconds between updates */
#define CMD_TOP_DELAY_MIN	0.1

/* Keys: q and Ctrl-C quit, Ctrl-L draws afresh, Ctrl-Z suspends. */
#define CMD_TOP_CTRL(c)		((c) & 0x1f)

static int	cmd_top_exec(struct procctl *);

const struct procctl_command cmd_top_entry = {
	"top",
	"[--state S]... [--parent JOB] [-d SECONDS] [-n COUNT]",
	"Show the jobs with the CPU and memory of their processes, kept\n"
	"current. On a terminal: full-screen until q (or Ctrl-C). Otherwise\n"
	"(or with --json): one table (one JSON object) per interval.\n"
	"  --state S         only jobs in state S (running, stopping,\n"
	"                    restarting, waiting, exited)\n"
	"  --parent JOB      only the children of JOB\n"
	"  -d, --delay SECONDS\n"
	"                    between updates of CPU% and RSS (default 1,\n"
	"                    at least 0.1); a job's state shows at once\n"
	"  -n, --iterations COUNT\n"
	"                    stop after COUNT updates (default: never on a\n"
	"                    terminal, 1 otherwise; 0: never)\n",
	OPT_COMMON | OPT(OPT_STATE) | OPT(OPT_PARENT) | OPT(OPT_DELAY) |
	    OPT(OPT_ITERATIONS), "", 0, 0,
	cmd_top_exec
};

/* Runs the events' changes into the table and shows them at once. */
static void
cmd_top_notify(const char *method, json_t *params, void *arg)
{
	struct top	*top = arg;
	json_t		*event, *job, *id;

	if (strcmp(method, "event") != 0 || !json_is_object(params))
		return;
	event = json_object_get(params, "event");
	job = json_object_get(params, "job");
	if (!json_is_string(event) || !json_is_object(job))
		return;		/* a gap: the next list makes up for it */
	if (strcmp(json_string_value(event), "closed") == 0) {
		id = json_object_get(job, PROTO_F_ID);
		if (json_is_integer(id))
			top_jobs_remove(top, json_integer_value(id));
	} else
		top_jobs_update(top, job);
	top_draw_screen(top);
}

/* Keys from the terminal; 1 (end the wait) to quit. */
static int
cmd_top_key(int fd, void *arg)
{
	struct top	*top = arg;
	char		 keys[64];
	ssize_t		 n, i;

	if ((n = read(fd, keys, sizeof keys)) == -1 &&
	    (errno == EINTR || errno == EAGAIN))
		return (0);
	/* The terminal went away. */
	if (n <= 0) {
		top->quit = 1;
		return (1);
	}
	for (i = 0; i < n && !top->quit; i++) {
		switch (keys[i]) {
		case 'q':
		case 'Q':
		case CMD_TOP_CTRL('C'):
			top->quit = 1;
			break;
		case CMD_TOP_CTRL('L'):
			top->term.clear = 1;
			top_draw_screen(top);
			break;
		case CMD_TOP_CTRL('Z'):
			if (top_term_suspend(&top->term) == -1)
				top->quit = 1;
			else
				top_draw_screen(top);
			break;
		}
	}
	return (top->quit);
}

/* SIGWINCH: the window changed size; draw to the new one at once. */
static int
cmd_top_resized(int fd, void *arg)
{
	struct top		*top = arg;
	struct signalfd_siginfo	 si;

	while (read(fd, &si, sizeof si) == sizeof si)
		;
	top_term_size(&top->term);
	top->term.clear = 1;
	top_draw_screen(top);
	return (0);
}

/* The timer: time for the periodic list. */
static int
cmd_top_timer(int fd, void *arg)
{
	struct top	*top = arg;
	uint64_t	 n;

	if (read(fd, &n, sizeof n) != sizeof n)
		return (0);
	top->tick = 1;
	return (1);
}

/*
 * Waits for the answer to id while events, keys and resizes are seen to.
 * Returns 1 with *reply, 0 when top is to quit, -1 when the connection
 * is lost.
 */
static int
cmd_top_await(struct top *top, json_int_t id, json_t **reply)
{
	int	r;

	for (;;) {
		r = conn_wait(top->ctl->conn, id, reply);
		if (r == 0)
			top->quit = 1;
		if (r == 1 || r == -1 || top->quit)
			return (r == 1 ? 1 : r == -1 ? -1 : 0);
	}
}

/*
 * Asks for info and list in one write and takes both answers. Returns
 * 0, 1 when top is to quit (*error: an error reply, to report once the
 * terminal is given back), -1 when the connection is lost.
 */
static int
cmd_top_refresh(struct top *top, json_t **error)
{
	struct conn	*conn = top->ctl->conn;
	json_t		*reply, *result;
	json_int_t	 info, list;
	int		 r, code;

	conn_cork(conn);
	info = conn_send(conn, "info", NULL);
	list = conn_send(conn, "list", NULL);
	if (conn_uncork(conn) == -1 || info == -1 || list == -1)
		return (-1);

	if ((r = cmd_top_await(top, info, &reply)) != 1)
		return (r == -1 ? -1 : 1);
	/* Without info the title lacks the version; that is all. */
	if ((result = procctl_reply_result(reply, &code)) != NULL) {
		json_decref(top->info);
		top->info = json_incref(result);
	}
	json_decref(reply);

	if ((r = cmd_top_await(top, list, &reply)) != 1)
		return (r == -1 ? -1 : 1);
	result = procctl_reply_result(reply, &code);
	if (result == NULL || !json_is_array(result)) {
		*error = reply;
		return (1);
	}
	top_jobs_set(top, result);
	json_decref(reply);
	return (0);
}

/*
 * Blocks the signals top takes through signalfds: SIGINT, SIGTERM and
 * SIGHUP end it (ctl->sigfd, which ends any wait), SIGWINCH redraws
 * (*winch, a watch).
 */
static int
cmd_top_catch(struct procctl *ctl, int *winch)
{
	sigset_t	stop, resize, both;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGHUP);
	sigemptyset(&resize);
	sigaddset(&resize, SIGWINCH);
	both = stop;
	sigaddset(&both, SIGWINCH);
	if (sigprocmask(SIG_BLOCK, &both, NULL) == -1 ||
	    (ctl->sigfd = signalfd(-1, &stop, SFD_CLOEXEC | SFD_NONBLOCK)) ==
	    -1 ||
	    (*winch = signalfd(-1, &resize, SFD_CLOEXEC | SFD_NONBLOCK)) ==
	    -1) {
		fprintf(stderr, "procctl: cannot catch signals: %s\n",
		    strerror(errno));
		return (-1);
	}
	ctl->conn->sigfd = ctl->sigfd;
	return (0);
}

/* A timer that fires every delay seconds; the first list needs none. */
static int
cmd_top_timer_new(double delay)
{
	struct itimerspec	its;
	int			fd;

	if ((fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC |
	    TFD_NONBLOCK)) == -1) {
		fprintf(stderr, "procctl: cannot make a timer: %s\n",
		    strerror(errno));
		return (-1);
	}
	its.it_interval.tv_sec = (time_t)delay;
	its.it_interval.tv_nsec = (long)((delay - (double)(time_t)delay) *
	    1e9);
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) == -1) {
		close(fd);
		fprintf(stderr, "procctl: cannot set a timer: %s\n",
		    strerror(errno));
		return (-1);
	}
	return (fd);
}

/* Subscribes to every job's events before the first list. */
static int
cmd_top_subscribe(struct top *top)
{
	json_t	*result;

	top->ctl->conn->notify = cmd_top_notify;
	top->ctl->conn->notify_arg = top;
	if ((result = procctl_call(top->ctl, "subscribe", NULL)) == NULL)
		return (-1);
	json_decref(result);
	return (0);
}

/* The loop of the full-screen mode, on its terminal; the exit status. */
static int
cmd_top_loop(struct top *top, json_int_t count)
{
	json_t		*reply, *error = NULL;
	json_int_t	 frames = 0;
	int		 r, lost = 0, status = PROCCTL_EXIT_OK;

	top->tick = 1;
	while (!top->quit) {
		if (top->tick) {
			top->tick = 0;
			if ((r = cmd_top_refresh(top, &error)) == -1) {
				lost = 1;
				break;
			}
			if (r == 1)
				break;
			top_proc_measure_all(top);
			top_draw_screen(top);
			if (count > 0 && ++frames >= count)
				break;
		}
		if ((r = conn_wait(top->ctl->conn, 0, &reply)) == 0)
			break;
		if (r == -1) {
			lost = 1;
			break;
		}
	}
	top_term_leave(&top->term);
	if (lost) {
		procctl_lost(top->ctl);
		status = PROCCTL_EXIT_ERROR;
	} else if (error != NULL) {
		procctl_reply_warn(error);
		json_decref(error);
		status = PROCCTL_EXIT_ERROR;
	}
	return (status);
}

/* The full-screen mode: events, keys, resizes and a timer, in one wait. */
static int
cmd_top_screen(struct top *top, double delay, json_int_t count)
{
	struct procctl	*ctl = top->ctl;
	int		 winch = -1, timer = -1, status = PROCCTL_EXIT_ERROR;

	if (cmd_top_subscribe(top) == -1 || cmd_top_catch(ctl, &winch) == -1 ||
	    (timer = cmd_top_timer_new(delay)) == -1)
		goto out;
	if (top_term_enter(&top->term) == -1) {
		fprintf(stderr, "procctl: cannot set up the terminal: %s\n",
		    strerror(errno));
		goto out;
	}
	if (top->term.in != -1)
		conn_watch(ctl->conn, top->term.in, cmd_top_key, top);
	conn_watch(ctl->conn, winch, cmd_top_resized, top);
	conn_watch(ctl->conn, timer, cmd_top_timer, top);
	status = cmd_top_loop(top, count);
out:
	if (winch != -1)
		close(winch);
	if (timer != -1)
		close(timer);
	return (status);
}

/*
 * Without a terminal: a snapshot per interval, each a fresh list, with
 * CPU% measured since the one before (the first: since each process
 * started). An interrupt ends it between snapshots.
 */
static int
cmd_top_plain(struct top *top, double delay, json_int_t count)
{
	struct procctl	*ctl = top->ctl;
	json_t		*jobs;
	json_int_t	 i;
	int		 ms;

	ms = delay * 1000 > INT_MAX ? INT_MAX : (int)(delay * 1000);
	if (cmd_catch(ctl) == -1)
		return (PROCCTL_EXIT_ERROR);
	for (i = 0; count == 0 || i < count; i++) {
		if (i > 0 && cmd_sleep(ctl, ms) == -1)
			break;
		if ((jobs = procctl_call(ctl, "list", NULL)) == NULL)
			return (PROCCTL_EXIT_ERROR);
		if (!json_is_array(jobs)) {
			json_decref(jobs);
			cmd_invalid();
			return (PROCCTL_EXIT_ERROR);
		}
		top_jobs_set(top, jobs);
		json_decref(jobs);
		top_proc_measure_all(top);
		if (ctl->args.json)
			top_draw_json(top);
		else {
			if (i > 0)
				putchar('\n');
			top_draw_table(top);
		}
		if (fflush(stdout) == EOF || ctl->interrupts > 0)
			break;
	}
	return (PROCCTL_EXIT_OK);
}

/* --parent JOB as an id, which the events' job objects carry. */
static int
cmd_top_parent(struct top *top)
{
	json_t	*params, *job, *id;

	params = json_object();
	json_object_set(params, "job", top->ctl->args.parent);
	if ((job = procctl_call(top->ctl, "status", params)) == NULL)
		return (-1);
	id = json_object_get(job, PROTO_F_ID);
	if (!json_is_integer(id)) {
		json_decref(job);
		cmd_invalid();
		return (-1);
	}
	top->parent = json_integer_value(id);
	json_decref(job);
	return (0);
}

static int
cmd_top_exec(struct procctl *ctl)
{
	struct procctl_args	*args = &ctl->args;
	struct top		 top;
	json_int_t		 count;
	double			 delay = CMD_TOP_DELAY;
	int			 screen, status;

	if (args->given & OPT(OPT_DELAY)) {
		if (args->delay < CMD_TOP_DELAY_MIN)
			return (procctl_usage_error(ctl, "--delay: at least "
			    "%g seconds: %g", CMD_TOP_DELAY_MIN, args->delay));
		delay = args->delay;
	}
	screen = !args->json && isatty(STDOUT_FILENO);
	if (args->given & OPT(OPT_ITERATIONS))
		count = args->iterations;
	else
		count = screen ? 0 : 1;

	memset(&top, 0, sizeof top);
	top.ctl = ctl;
	top.parent = -1;
	if (args->states != NULL)
		top.states = proto_states_mask(args->states, NULL);
	top_proc_init(&top);
	/* Over -H, /proc here says nothing of procd's processes there. */
	top.local = args->host == NULL;

	if (procctl_connect(ctl) == -1 ||
	    (args->parent != NULL && cmd_top_parent(&top) == -1))
		status = PROCCTL_EXIT_ERROR;
	else if (screen)
		status = cmd_top_screen(&top, delay, count);
	else
		status = cmd_top_plain(&top, delay, count);
	top_jobs_clear(&top);
	json_decref(top.info);
	return (status);
}
