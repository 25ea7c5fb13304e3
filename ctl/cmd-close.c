/* SPDX-License-Identifier: ISC */
/*
 * procctl close: release the record of a finished job.
 */

#include "config.h"

#include <stdio.h>

#include "proto.h"
#include "procctl.h"

static int	cmd_close_exec(struct procctl *);

const struct procctl_command cmd_close_entry = {
	"close",
	"JOB",
	"Release the record of a finished job.\n",
	OPT_COMMON, "JOB", 1, 0,
	cmd_close_exec
};

static void
cmd_close_print(const json_t *job)
{
	char	label[128];

	format_label(job, label, sizeof label);
	printf("closed %s\n", label);
}

static int
cmd_close_exec(struct procctl *ctl)
{
	json_t	*params;

	if ((params = cmd_job_params(ctl)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	return (cmd_print(ctl, procctl_call(ctl, "close", params),
	    cmd_close_print));
}
