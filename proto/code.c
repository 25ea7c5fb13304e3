/* SPDX-License-Identifier: ISC */
/*
 * Error codes and job states: their default messages and names, the one
 * place both binaries take them from.
 */

#include "config.h"

#include <string.h>

#include "proto.h"

static const struct {
	int		 code;
	const char	*message;
} proto_codes[] = {
	{ PROTO_PARSE_ERROR,		"Parse error" },
	{ PROTO_INVALID_REQUEST,	"Invalid Request" },
	{ PROTO_METHOD_NOT_FOUND,	"Method not found" },
	{ PROTO_INVALID_PARAMS,		"Invalid params" },
	{ PROTO_INTERNAL_ERROR,		"Internal error" },
	{ PROTO_JOB_NOT_FOUND,		"job not found" },
	{ PROTO_JOB_RUNNING,
	    "job is still running; join or terminate it first" },
	{ PROTO_NAME_IN_USE,		"name in use" },
	{ PROTO_PERMISSION,		"permission denied" },
	{ PROTO_SPAWN_FAILED,		"spawn failed" },
	{ PROTO_INVALID_PARENT,		"invalid parent" },
	{ PROTO_LIMIT,			"limit reached" },
	{ PROTO_STOPPING,		"procd is stopping" },
};

static const char *const proto_state_names[PROTO_NSTATES] = {
	"running", "stopping", "restarting", "waiting", "exited",
};

const char *
proto_code_message(int code)
{
	size_t	i;

	for (i = 0; i < sizeof proto_codes / sizeof proto_codes[0]; i++) {
		if (proto_codes[i].code == code)
			return (proto_codes[i].message);
	}
	return ("error");
}

const char *
proto_state_name(enum proto_state state)
{
	if ((unsigned)state >= PROTO_NSTATES)
		return ("unknown");
	return (proto_state_names[state]);
}

/* Returns the state for a name, or -1. */
int
proto_state_parse(const char *name)
{
	int	i;

	for (i = 0; i < PROTO_NSTATES; i++) {
		if (strcmp(name, proto_state_names[i]) == 0)
			return (i);
	}
	return (-1);
}
