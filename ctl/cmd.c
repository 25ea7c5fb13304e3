/* SPDX-License-Identifier: ISC */
/*
 * The table of procctl's commands, each defined in its own cmd-*.c, and
 * the pieces several of them share: printing a result, the params of a
 * JOB operand, a joined job's status, interrupts.
 */

#include "config.h"

#include <sys/signalfd.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/* Every command, in the order procctl --help lists them. */
const struct procctl_command *const procctl_commands[] = {
	&cmd_start_entry,
	&cmd_run_entry,
	&cmd_join_entry,
	&cmd_terminate_entry,
	&cmd_kill_entry,
	&cmd_signal_entry,
	&cmd_close_entry,
	&cmd_status_entry,
	&cmd_list_entry,
	&cmd_info_entry,
	&cmd_reexec_entry,
	&cmd_call_entry,
	&cmd_methods_entry,
	&cmd_logs_entry,
	&cmd_events_entry,
	&cmd_subscribe_entry,
	&cmd_bridge_entry,
	&cmd_top_entry,
	&cmd_help_entry,
	NULL
};

/*
 * Commands procctl runs but --help does not list: complete is for the
 * shell completion scripts, not for people.
 */
const struct procctl_command *const procctl_hidden_commands[] = {
	&cmd_complete_entry,
	NULL
};

void
cmd_invalid(void)
{
	fprintf(stderr, "procctl: invalid reply from procd\n");
}

/* Prints a result as --json asks or with fn; returns the exit status. */
int
cmd_print(struct procctl *ctl, json_t *result,
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
json_t *
cmd_job_params(struct procctl *ctl)
{
	json_t	*params, *job;

	if ((job = procctl_job(ctl, ctl->args.operands[0])) == NULL)
		return (NULL);
	params = json_object();
	json_object_set_new(params, "job", job);
	return (params);
}

void
cmd_set_flag(json_t *params, const char *key, int flag)
{
	if (flag)
		json_object_set_new(params, key, json_true());
}

/* Reports how a joined job ended and gives its exit status. */
int
cmd_joined(struct procctl *ctl, json_t *job)
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
		cmd_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	return (status);
}

/* Blocks SIGINT and SIGTERM and takes them from a signalfd instead. */
int
cmd_catch(struct procctl *ctl)
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
int
cmd_sleep(struct procctl *ctl, int ms)
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
