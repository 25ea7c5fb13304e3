/* SPDX-License-Identifier: ISC */
/*
 * The params each method takes: one table per method, the one definition
 * procd checks requests against and the tests and fuzzer exercise.
 */

#include "config.h"

#include <string.h>

#include "proto.h"

const struct proto_param proto_params_start[] = {
	{ "argv",		PROTO_P_ARGV,		1 },
	{ "name",		PROTO_P_NAME,		0 },
	{ "env",		PROTO_P_ENV,		0 },
	{ "cwd",		PROTO_P_PATH,		0 },
	{ "daemon",		PROTO_P_BOOL,		0 },
	{ "parent",		PROTO_P_JOB,		0 },
	{ "stop_timeout",	PROTO_P_SECONDS,	0 },
	{ "output",		PROTO_P_STRING,		0 },
	{ "log_limit",		PROTO_P_LOG_LIMIT,	0 },
	{ "user",		PROTO_P_ACCOUNT,	0 },
	{ "group",		PROTO_P_ACCOUNT,	0 },
	{ "restart",		PROTO_P_STRING,		0 },
	{ "restart_delay",	PROTO_P_SECONDS,	0 },
	{ "restart_max_delay",	PROTO_P_SECONDS,	0 },
	{ "restart_limit",	PROTO_P_UINT,		0 },
	{ "notify",		PROTO_P_BOOL,		0 },
	{ "wait_ready",		PROTO_P_BOOL,		0 },
	{ "ready_timeout",	PROTO_P_SECONDS,	0 },
	{ "kill_mode",		PROTO_P_STRING,		0 },
	{ NULL,			0,			0 }
};

const struct proto_param proto_params_join[] = {
	{ "job",		PROTO_P_JOB,		1 },
	{ "timeout",		PROTO_P_SECONDS,	0 },
	{ NULL,			0,			0 }
};

/* terminate and kill */
const struct proto_param proto_params_stop[] = {
	{ "job",		PROTO_P_JOB,		1 },
	{ "recursive",		PROTO_P_BOOL,		0 },
	{ NULL,			0,			0 }
};

const struct proto_param proto_params_signal[] = {
	{ "job",		PROTO_P_JOB,		1 },
	{ "signal",		PROTO_P_SIGNAL,		1 },
	{ "group",		PROTO_P_BOOL,		0 },
	{ NULL,			0,			0 }
};

/* close and status */
const struct proto_param proto_params_job[] = {
	{ "job",		PROTO_P_JOB,		1 },
	{ NULL,			0,			0 }
};

const struct proto_param proto_params_list[] = {
	{ "state",		PROTO_P_STATES,		0 },
	{ "parent",		PROTO_P_JOB,		0 },
	{ NULL,			0,			0 }
};

/* info */
const struct proto_param proto_params_none[] = {
	{ NULL,			0,			0 }
};

const struct proto_param proto_params_logs[] = {
	{ "job",		PROTO_P_JOB,		1 },
	{ "stream",		PROTO_P_STRING,		0 },
	{ "tail",		PROTO_P_UINT,		0 },
	{ "follow",		PROTO_P_BOOL,		0 },
	{ "encoding",		PROTO_P_STRING,		0 },
	{ NULL,			0,			0 }
};

const struct proto_param proto_params_subscribe[] = {
	{ "jobs",		PROTO_P_JOBS,		0 },
	{ "since",		PROTO_P_UINT,		0 },
	{ NULL,			0,			0 }
};

const struct proto_param proto_params_unsubscribe[] = {
	{ "subscription",	PROTO_P_UINT,		1 },
	{ NULL,			0,			0 }
};
