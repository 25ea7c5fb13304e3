/* SPDX-License-Identifier: ISC */
/*
 * procctl call: one raw request, its result printed as JSON.
 */

#include "config.h"

#include "proto.h"
#include "procctl.h"

static int	cmd_call_exec(struct procctl *);

const struct procctl_command cmd_call_entry = {
	"call",
	"METHOD [JSON-PARAMS]",
	"Send one raw request and print its result as JSON.\n",
	OPT_COMMON, "METHOD", 2, 0,
	cmd_call_exec
};

/* call prints JSON whatever --json says: its caller speaks JSON-RPC. */
static int
cmd_call_exec(struct procctl *ctl)
{
	const char	*method = ctl->args.operands[0];
	json_error_t	 error;
	json_t		*params = NULL, *result, *v;

	if ((v = procctl_string(ctl, method)) == NULL)
		return (PROCCTL_EXIT_USAGE);
	json_decref(v);
	if (ctl->args.noperands > 1) {
		params = json_loads(ctl->args.operands[1], JSON_DECODE_ANY,
		    &error);
		if (params == NULL)
			return (procctl_usage_error(ctl, "JSON-PARAMS: %s "
			    "(at character %d)", error.text, error.position));
	}
	if ((result = procctl_call(ctl, method, params)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	format_json(result);
	json_decref(result);
	return (PROCCTL_EXIT_OK);
}
