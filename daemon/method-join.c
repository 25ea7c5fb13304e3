/* SPDX-License-Identifier: ISC */
/*
 * join: answered when the job is exited, or when the timeout passes. Until
 * then the request is parked on the job and on its client.
 */

#include "config.h"

#include "procd.h"

static const struct proto_param method_join_params[] = {
	{ "job",	PROTO_P_JOB,		1 },
	{ "timeout",	PROTO_P_SECONDS,	0 },
	{ NULL,		0,			0 }
};

/* Answers a parked join: the job is exited, or timed_out. */
void
method_join_answer(struct request *req, int timed_out)
{
	json_t	*o;

	o = job_json(req->job);
	if (timed_out)
		json_object_set_new(o, PROTO_F_TIMED_OUT, json_true());
	request_reply(req, o);
}

static void
method_join_timeout(int fd, short events, void *arg)
{
	method_join_answer(arg, 1);
}

static enum method_return
method_join_exec(struct request *req)
{
	struct job	*job;
	struct timeval	 tv;
	json_t		*o;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	if (job->state == PROTO_EXITED)
		return (request_reply(req, job_json(job)));
	if (json_is_number(json_object_get(req->params, "timeout"))) {
		if (method_seconds(req, "timeout", 0) == 0) {
			o = job_json(job);
			json_object_set_new(o, PROTO_F_TIMED_OUT, json_true());
			return (request_reply(req, o));
		}
		method_timeval(method_seconds(req, "timeout", 0), &tv);
		req->timer = evtimer_new(procd_base, method_join_timeout, req);
		evtimer_add(req->timer, &tv);
	}
	req->job = job;
	req->queue = &job->waiters;
	TAILQ_INSERT_TAIL(req->queue, req, job_entry);
	request_park(req);
	return (METHOD_WAIT);
}

const struct method_entry method_join_entry = {
	"join", METHOD_NOTIFY_NOOP, method_join_params, method_join_exec
};
