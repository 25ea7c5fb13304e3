/* SPDX-License-Identifier: ISC */
/*
 * terminate: SIGTERM to the job's process group, SIGKILL once its
 * stop_timeout has passed.
 */

#include "config.h"

#include <signal.h>

#include "procd.h"

static enum method_return
method_terminate_exec(struct request *req)
{
	struct job	*job;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	if (method_bool(req, "recursive", 0))
		job_stop_tree(job, SIGTERM);
	else
		job_stop(job, SIGTERM);
	return (request_reply_job(req, job));
}

const struct method_entry method_terminate_entry = {
	&proto_method_terminate, 0, method_terminate_exec
};
