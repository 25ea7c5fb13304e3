/* SPDX-License-Identifier: ISC */
/*
 * procctl status: everything about one job.
 */

#include "config.h"

#include "proto.h"
#include "procctl.h"

static int	cmd_status_exec(struct procctl *);

const struct procctl_command cmd_status_entry = {
	"status",
	"JOB",
	"Show everything about JOB.\n",
	OPT_COMMON, "JOB", 1, 0,
	cmd_status_exec
};

static int
cmd_status_exec(struct procctl *ctl)
{
	json_t	*params;

	if ((params = cmd_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	return (cmd_print(ctl, procctl_call(ctl, "status", params),
	    format_job));
}
