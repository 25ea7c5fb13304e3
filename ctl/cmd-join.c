/* SPDX-License-Identifier: ISC */
/*
 * procctl join: wait for a job and exit with its status.
 */

#include "config.h"

#include "proto.h"
#include "procctl.h"

static int	cmd_join_exec(struct procctl *);

const struct procctl_command cmd_join_entry = {
	"join",
	"JOB [--timeout S]",
	"Wait for JOB to finish and exit with its status (128+N for\n"
	"signal N, 124 when the timeout passes first).\n",
	OPT_COMMON | OPT(OPT_TIMEOUT), "JOB", 1, 0,
	cmd_join_exec
};

static int
cmd_join_exec(struct procctl *ctl)
{
	json_t	*params;

	if ((params = cmd_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	if (ctl->args.timeout != NULL)
		json_object_set(params, "timeout", ctl->args.timeout);
	return (cmd_joined(ctl, procctl_call(ctl, "join", params)));
}
