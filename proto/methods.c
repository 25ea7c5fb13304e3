/* SPDX-License-Identifier: ISC */
/*
 * The methods of the protocol: for each, its params (the one definition
 * procd checks requests against, and the tests and fuzzer exercise), what
 * it does and what it answers. procd serves exactly these; rpc.discover
 * describes them from here (openrpc.c).
 */

#include "config.h"

#include <string.h>

#include "proto.h"

/* The words a string param takes, where it takes only a few. */
static const char *const proto_words_output[] = { "capture", "inherit",
    "null", NULL };
static const char *const proto_words_restart[] = { "no", "on-failure",
    "always", NULL };
static const char *const proto_words_kill_mode[] = { "group", "tree",
    NULL };
static const char *const proto_words_stream[] = { "stdout", "stderr",
    "both", NULL };
static const char *const proto_words_encoding[] = { "text", "base64",
    NULL };

const struct proto_param proto_params_start[] = {
	{ "argv",		PROTO_P_ARGV,		1,
	  "the command; argv[0] without a / is searched in PATH", NULL },
	{ "name",		PROTO_P_NAME,		0,
	  "a unique name (default job-ID)", NULL },
	{ "env",		PROTO_P_ENV,		0,
	  "variables to set over procd's environment; null removes one",
	  NULL },
	{ "cwd",		PROTO_P_PATH,		0,
	  "working folder, an absolute path (default /)", NULL },
	{ "daemon",		PROTO_P_BOOL,		0,
	  "stopped when its parent job's process exits", NULL },
	{ "parent",		PROTO_P_JOB,		0,
	  "the parent job: running and not daemonic", NULL },
	{ "stop_timeout",	PROTO_P_SECONDS,	0,
	  "seconds from SIGTERM to SIGKILL (default 10)", NULL },
	{ "output",		PROTO_P_STRING,		0,
	  "capture (default), inherit or null", proto_words_output },
	{ "log_limit",		PROTO_P_LOG_LIMIT,	0,
	  "bytes of output kept (default 262144, at most 1 GiB)", NULL },
	{ "user",		PROTO_P_ACCOUNT,	0,
	  "run as this user, a name or uid (root, or oneself)", NULL },
	{ "group",		PROTO_P_ACCOUNT,	0,
	  "primary group, a name or gid (root, or one's own groups)", NULL },
	{ "restart",		PROTO_P_STRING,		0,
	  "no (default), on-failure or always", proto_words_restart },
	{ "restart_delay",	PROTO_P_SECONDS,	0,
	  "seconds before a restart (default 1), doubled after short runs",
	  NULL },
	{ "restart_max_delay",	PROTO_P_SECONDS,	0,
	  "the most the delay grows to (default 60)", NULL },
	{ "restart_limit",	PROTO_P_UINT,		0,
	  "at most this many restarts (default: no limit)", NULL },
	{ "notify",		PROTO_P_BOOL,		0,
	  "give the job NOTIFY_SOCKET for READY=1 and STATUS=", NULL },
	{ "wait_ready",		PROTO_P_BOOL,		0,
	  "answer once the job is ready (needs notify)", NULL },
	{ "ready_timeout",	PROTO_P_SECONDS,	0,
	  "terminate the job if not ready in time (needs wait_ready)", NULL },
	{ "kill_mode",		PROTO_P_STRING,		0,
	  "group (default) or tree: every process, in a cgroup",
	  proto_words_kill_mode },
	{ NULL, 0, 0, NULL, NULL }
};

const struct proto_param proto_params_join[] = {
	{ "job",		PROTO_P_JOB,		1,
	  "the job", NULL },
	{ "timeout",		PROTO_P_SECONDS,	0,
	  "answer after this many seconds at most, with timed_out", NULL },
	{ NULL, 0, 0, NULL, NULL }
};

/* terminate and kill */
const struct proto_param proto_params_stop[] = {
	{ "job",		PROTO_P_JOB,		1,
	  "the job", NULL },
	{ "recursive",		PROTO_P_BOOL,		0,
	  "every descendant job too", NULL },
	{ NULL, 0, 0, NULL, NULL }
};

const struct proto_param proto_params_signal[] = {
	{ "job",		PROTO_P_JOB,		1,
	  "the job", NULL },
	{ "signal",		PROTO_P_SIGNAL,		1,
	  "a number 1-64 or a name, with or without SIG", NULL },
	{ "group",		PROTO_P_BOOL,		0,
	  "to the job's whole process group", NULL },
	{ NULL, 0, 0, NULL, NULL }
};

/* close and status */
const struct proto_param proto_params_job[] = {
	{ "job",		PROTO_P_JOB,		1,
	  "the job", NULL },
	{ NULL, 0, 0, NULL, NULL }
};

const struct proto_param proto_params_list[] = {
	{ "state",		PROTO_P_STATES,		0,
	  "only jobs in this state or these states", NULL },
	{ "parent",		PROTO_P_JOB,		0,
	  "only the children of this job", NULL },
	{ NULL, 0, 0, NULL, NULL }
};

/* info, reexec, rpc.discover */
const struct proto_param proto_params_none[] = {
	{ NULL, 0, 0, NULL, NULL }
};

const struct proto_param proto_params_logs[] = {
	{ "job",		PROTO_P_JOB,		1,
	  "the job", NULL },
	{ "stream",		PROTO_P_STRING,		0,
	  "stdout, stderr or both (default)", proto_words_stream },
	{ "tail",		PROTO_P_UINT,		0,
	  "only the last N lines", NULL },
	{ "follow",		PROTO_P_BOOL,		0,
	  "send new output as log notifications until the job exits", NULL },
	{ "encoding",		PROTO_P_STRING,		0,
	  "text (default) or base64", proto_words_encoding },
	{ NULL, 0, 0, NULL, NULL }
};

const struct proto_param proto_params_subscribe[] = {
	{ "jobs",		PROTO_P_JOBS,		0,
	  "only events of these jobs (default: every job)", NULL },
	{ "since",		PROTO_P_UINT,		0,
	  "replay the retained events after this sequence number", NULL },
	{ NULL, 0, 0, NULL, NULL }
};

const struct proto_param proto_params_unsubscribe[] = {
	{ "subscription",	PROTO_P_UINT,		1,
	  "a subscription of this connection", NULL },
	{ NULL, 0, 0, NULL, NULL }
};

#define METHOD(id, name, params, result, summary) \
	const struct proto_method proto_method_##id = \
	    { name, summary, params, result };

METHOD(start, "start", proto_params_start, PROTO_R_JOB,
    "Start a worker process as a new job")
METHOD(join, "join", proto_params_join, PROTO_R_JOB,
    "Wait until a job has exited (with its children), or a timeout")
METHOD(terminate, "terminate", proto_params_stop, PROTO_R_JOB,
    "Send SIGTERM, then SIGKILL after the job's stop_timeout")
METHOD(kill, "kill", proto_params_stop, PROTO_R_JOB,
    "Send SIGKILL")
METHOD(signal, "signal", proto_params_signal, PROTO_R_JOB,
    "Send any signal to the job's process or process group")
METHOD(close, "close", proto_params_job, PROTO_R_JOB,
    "Release the record of an exited job")
METHOD(status, "status", proto_params_job, PROTO_R_JOB,
    "The job object")
METHOD(list, "list", proto_params_list, PROTO_R_JOBS,
    "The jobs one may see, ordered by id")
METHOD(info, "info", proto_params_none, PROTO_R_INFO,
    "procd's version, pid, socket and job counts")
METHOD(logs, "logs", proto_params_logs, PROTO_R_LOGS,
    "A job's retained output, and with follow what comes after")
METHOD(subscribe, "subscribe", proto_params_subscribe, PROTO_R_SUBSCRIBE,
    "Receive job events as notifications, from since if given")
METHOD(unsubscribe, "unsubscribe", proto_params_unsubscribe, PROTO_R_TRUE,
    "End a subscription")
METHOD(reexec, "reexec", proto_params_none, PROTO_R_REEXEC,
    "Replace procd's program in place, keeping every job and client")
METHOD(discover, "rpc.discover", proto_params_none, PROTO_R_OPENRPC,
    "This description of the methods, as an OpenRPC document")

const struct proto_method *const proto_methods[] = {
	&proto_method_start,
	&proto_method_join,
	&proto_method_terminate,
	&proto_method_kill,
	&proto_method_signal,
	&proto_method_close,
	&proto_method_status,
	&proto_method_list,
	&proto_method_info,
	&proto_method_logs,
	&proto_method_subscribe,
	&proto_method_unsubscribe,
	&proto_method_reexec,
	&proto_method_discover,
	NULL
};
