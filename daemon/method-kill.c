/* SPDX-License-Identifier: ISC */
/*
 * kill: SIGKILL to the job's process group at once.
 */

#include "config.h"

#include <signal.h>

#include "procd.h"

static enum method_return
method_kill_exec(struct request *req)
{
	struct job	*job;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	if (method_bool(req, "recursive", 0))
		job_stop_tree(job, SIGKILL);
	else
		job_stop(job, SIGKILL);
	return (request_reply_job(req, job));
}

const struct method_entry method_kill_entry = {
	&proto_method_kill, 0, method_kill_exec
};
