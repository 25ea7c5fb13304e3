/* SPDX-License-Identifier: ISC */
/*
 * procctl info: procd's version, pid, socket and counts.
 */

#include "config.h"

#include "proto.h"
#include "procctl.h"

static int	cmd_info_exec(struct procctl *);

const struct procctl_command cmd_info_entry = {
	"info",
	"",
	"Show procd's version, pid, socket and job counts.\n",
	OPT_COMMON, "", 0, 0,
	cmd_info_exec
};

static int
cmd_info_exec(struct procctl *ctl)
{
	return (cmd_print(ctl, procctl_call(ctl, "info", NULL),
	    format_info));
}
