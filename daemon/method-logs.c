/* SPDX-License-Identifier: ISC */
/*
 * logs: a job's retained output; with follow, each new chunk as a log
 * notification and the answer once the job is exited and its output
 * drained. What is sent at once, the answer or the replayed records, is
 * the newest output that fits in half the client's output limit.
 */

#include "config.h"

#include <string.h>

#include "procd.h"

/* The stream param as a bit set of 1 << stream; -1 if unknown. */
static int
method_logs_streams(const char *name)
{
	if (name == NULL || strcmp(name, "both") == 0)
		return (1 << LOG_STDOUT | 1 << LOG_STDERR);
	if (strcmp(name, "stdout") == 0)
		return (1 << LOG_STDOUT);
	if (strcmp(name, "stderr") == 0)
		return (1 << LOG_STDERR);
	return (-1);
}

static enum method_return
method_logs_exec(struct request *req)
{
	struct job		*job;
	struct client		*c;
	const char		*encoding;
	json_t			*tailp;
	long long		 tail = -1;
	size_t			 budget, overhead;
	int			 streams;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	if ((streams = method_logs_streams(method_string(req, "stream"))) ==
	    -1)
		return (request_error(req, PROTO_INVALID_PARAMS, "invalid "
		    "params: 'stream' must be stdout, stderr or both"));
	encoding = method_string(req, "encoding");
	if (encoding != NULL && strcmp(encoding, "text") != 0 &&
	    strcmp(encoding, "base64") != 0)
		return (request_error(req, PROTO_INVALID_PARAMS, "invalid "
		    "params: 'encoding' must be text or base64"));
	tailp = json_object_get(req->params, "tail");
	if (json_is_integer(tailp))
		tail = json_integer_value(tailp);
	req->follow_streams = streams;
	req->follow_base64 = encoding != NULL &&
	    strcmp(encoding, "base64") == 0;

	/* At most half the client's output limit, as written on the wire. */
	budget = procd_config.max_output / 2;
	if (!method_bool(req, "follow", 0)) {
		if (req->id == NULL)
			return (request_reply(req, NULL));
		overhead = request_reply_overhead(req);
		logreply_records(req, job, streams, tail,
		    budget > overhead ? budget - overhead : 0);
		return (METHOD_WAIT);
	}
	/* A notification cannot be followed: nothing would be answered. */
	if (req->id == NULL)
		return (request_reply(req, NULL));
	req->job = job;
	req->queue = &job->followers;
	TAILQ_INSERT_TAIL(req->queue, req, job_entry);
	request_park(req);
	c = req->client;
	client_following(c);
	logreply_replay(req, job, tail, budget);
	if (!(c->flags & CLIENT_DEAD))
		output_check_done(job);
	return (METHOD_WAIT);
}

const struct method_entry method_logs_entry = {
	&proto_method_logs, 0, method_logs_exec
};
