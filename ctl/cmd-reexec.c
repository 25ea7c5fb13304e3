/* SPDX-License-Identifier: ISC */
/*
 * procctl reexec: upgrade procd in place.
 */

#include "config.h"

#include "proto.h"
#include "procctl.h"

static int	cmd_reexec_exec(struct procctl *);

const struct procctl_command cmd_reexec_entry = {
	"reexec",
	"",
	"Replace procd's program with the file it was started from, in the\n"
	"same process: an upgrade that loses no job, connection or event.\n"
	"procd checks the new program first and keeps running if it fails.\n",
	OPT_COMMON, "", 0, 0,
	cmd_reexec_exec
};

/*
 * The answer comes from the new image once it serves, over the same
 * connection, so there is nothing to wait for but the reply.
 */
static int
cmd_reexec_exec(struct procctl *ctl)
{
	return (cmd_print(ctl, procctl_call(ctl, "reexec", NULL),
	    format_reexec));
}
