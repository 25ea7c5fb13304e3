/* SPDX-License-Identifier: ISC */
/*
 * procctl terminate and kill: the same params, the same answer.
 */

#include "config.h"

#include <stdio.h>

#include "proto.h"
#include "procctl.h"

static int	cmd_terminate_exec(struct procctl *);
static int	cmd_kill_exec(struct procctl *);

const struct procctl_command cmd_terminate_entry = {
	"terminate",
	"JOB [--recursive]",
	"Send SIGTERM to JOB, then SIGKILL after its stop timeout.\n"
	"  --recursive       every descendant job too\n",
	OPT_COMMON | OPT(OPT_RECURSIVE), "JOB", 1, 0,
	cmd_terminate_exec
};

const struct procctl_command cmd_kill_entry = {
	"kill",
	"JOB [--recursive]",
	"Send SIGKILL to JOB.\n"
	"  --recursive       every descendant job too\n",
	OPT_COMMON | OPT(OPT_RECURSIVE), "JOB", 1, 0,
	cmd_kill_exec
};

/* terminate and kill: same params, same answer. */
static int
cmd_stop(struct procctl *ctl, const char *method, const char *verb)
{
	json_t	*params, *job;

	if ((params = cmd_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	cmd_set_flag(params, "recursive", ctl->args.recursive);
	if ((job = procctl_call(ctl, method, params)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (ctl->args.json)
		format_json(job);
	else
		format_stop(job, verb, ctl->args.recursive);
	json_decref(job);
	return (PROCCTL_EXIT_OK);
}

static int
cmd_terminate_exec(struct procctl *ctl)
{
	return (cmd_stop(ctl, "terminate", "terminating"));
}

static int
cmd_kill_exec(struct procctl *ctl)
{
	return (cmd_stop(ctl, "kill", "killing"));
}
