/* SPDX-License-Identifier: ISC */
/*
 * procctl help [COMMAND].
 */

#include "config.h"

#include "proto.h"
#include "procctl.h"

static int	cmd_help_exec(struct procctl *);

const struct procctl_command cmd_help_entry = {
	"help",
	"[COMMAND]",
	"Show the usage of procctl or of one command.\n",
	OPT_COMMON, "", 1, 0,
	cmd_help_exec
};

/* procctl help [COMMAND]. */
static int
cmd_help_exec(struct procctl *ctl)
{
	const struct procctl_command	*cmd = NULL;

	if (ctl->args.noperands > 0 &&
	    (cmd = procctl_find(ctl->args.operands[0])) == NULL)
		return (procctl_usage_error(ctl, "unknown command: %s",
		    ctl->args.operands[0]));
	procctl_help(cmd);
	return (PROCCTL_EXIT_OK);
}
