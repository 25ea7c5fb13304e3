/* SPDX-License-Identifier: ISC */
/*
 * close: release the record of an exited job; its id and name are unknown
 * afterwards.
 */

#include "config.h"

#include <stdlib.h>

#include "procd.h"

static enum method_return
method_close_exec(struct request *req)
{
	struct job	*job;
	enum method_return ret;
	char		*text;
	size_t		 len;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	if (job->state != PROTO_EXITED)
		return (request_error(req, PROTO_JOB_RUNNING,
		    "job is still running; join or terminate it first"));
	/* The answer is the job as it was when closed. */
	text = xstrdup(job_text(job, &len));
	job_close(job);
	ret = request_reply_text(req, NULL, text, len, NULL);
	free(text);
	return (ret);
}

const struct method_entry method_close_entry = {
	&proto_method_close, 0, method_close_exec
};
