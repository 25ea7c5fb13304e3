/* SPDX-License-Identifier: ISC */
/*
 * procctl signal: any signal, by number or name, to a job or its group.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "procctl.h"

static int	cmd_signal_exec(struct procctl *);

const struct procctl_command cmd_signal_entry = {
	"signal",
	"JOB SIG [--group]",
	"Send signal SIG (number or name, e.g. HUP) to JOB.\n"
	"  --group           to its whole process group\n",
	OPT_COMMON | OPT(OPT_GROUP), "JOB SIG", 2, 0,
	cmd_signal_exec
};

static int
cmd_signal_exec(struct procctl *ctl)
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
	if ((params = cmd_job_params(ctl)) == NULL) {
		json_decref(sig);
		return (PROCCTL_EXIT_USAGE);
	}
	json_object_set_new(params, "signal", sig);
	cmd_set_flag(params, "group", ctl->args.group);
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
