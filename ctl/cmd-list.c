/* SPDX-License-Identifier: ISC */
/*
 * procctl list: a table of the jobs, or one JSON job per line.
 */

#include "config.h"

#include "proto.h"
#include "procctl.h"

static int	cmd_list_exec(struct procctl *);

const struct procctl_command cmd_list_entry = {
	"list",
	"[--state S]... [--parent JOB]",
	"List the jobs.\n"
	"  --state S         only jobs in state S (running, stopping,\n"
	"                    restarting, waiting, exited)\n"
	"  --parent JOB      only the children of JOB\n",
	OPT_COMMON | OPT(OPT_STATE) | OPT(OPT_PARENT), "", 0, 0,
	cmd_list_exec
};

static int
cmd_list_exec(struct procctl *ctl)
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
		cmd_invalid();
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
