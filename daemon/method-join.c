/* SPDX-License-Identifier: ISC */
/*
 * join: answered when the job is exited, or when the timeout passes. Until
 * then the request is parked on the job and on its client.
 */

#include "config.h"

#include "procd.h"

/* Answers a join with job: exited, or not yet when timed_out is set. */
static enum method_return
method_join_reply(struct request *req, struct job *job, int timed_out)
{
	const char	*text;
	size_t		 len;

	if (!timed_out)
		return (request_reply_job(req, job));
	/* The job object with one more member before its closing brace. */
	text = job_text(job, &len);
	return (request_reply_text(req, NULL, text, len - 1,
	    ",\"" PROTO_F_TIMED_OUT "\":true}"));
}

/* Answers a parked join: the job is exited, or timed_out. */
void
method_join_answer(struct request *req, int timed_out)
{
	method_join_reply(req, req->job, timed_out);
}

void
method_join_timeout(int fd, short events, void *arg)
{
	method_join_answer(arg, 1);
}

static enum method_return
method_join_exec(struct request *req)
{
	struct job	*job;
	json_t		*ref;
	double		 timeout;

	/* A job whose spawn is out is waited for like any other. */
	ref = json_object_get(req->params, "job");
	if (json_is_string(ref) && (job = spawn_pending_find(
	    json_string_value(ref))) != NULL) {
		if (!method_may_act(req, job))
			return (METHOD_DONE);
	} else {
		/* By id, or not found: what the spawns out make decides. */
		if (spawn_pending() > 0 && job_lookup(ref) == NULL)
			spawn_defer_flush();
		if ((job = method_job(req, "job")) == NULL)
			return (METHOD_DONE);
	}
	if (job->state == PROTO_EXITED)
		return (method_join_reply(req, job, 0));
	timeout = method_seconds(req, "timeout", -1);
	if (timeout == 0)
		return (method_join_reply(req, job, 1));
	return (request_park_job(req, job, &job->waiters, timeout,
	    method_join_timeout));
}

const struct method_entry method_join_entry = {
	&proto_method_join, METHOD_NOTIFY_NOOP | METHOD_SPAWNS_OUT,
	method_join_exec
};
