/* SPDX-License-Identifier: ISC */
/*
 * signal: any signal to the job's process, or to its process group. The
 * job's state does not change.
 */

#include "config.h"

#include <errno.h>
#include <string.h>

#include "procd.h"

static enum method_return
method_signal_exec(struct request *req)
{
	struct job	*job;
	int		 signo;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	signo = proto_signal_parse(json_object_get(req->params, "signal"));
	if (job_signal(job, signo, method_bool(req, "group", 0)) == -1)
		return (request_error(req, PROTO_INTERNAL_ERROR,
		    "cannot send signal %d: %s", signo, strerror(errno)));
	return (request_reply_job(req, job));
}

const struct method_entry method_signal_entry = {
	&proto_method_signal, 0, method_signal_exec
};
