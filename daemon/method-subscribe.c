/* SPDX-License-Identifier: ISC */
/*
 * subscribe: job state changes as event notifications, optionally only
 * for some jobs, optionally replaying retained events after a sequence
 * number first.
 */

#include "config.h"

#include <stdlib.h>

#include "procd.h"

/*
 * Resolves the jobs param to ids: jobs not closed that req's client may
 * act on, or the id of a closed one. Answers req and returns -1 if one
 * is unknown or another user's.
 */
static int
method_subscribe_ids(struct request *req, json_t *list, long long **ids,
    size_t *n)
{
	struct job	*job;
	json_t		*ref;
	size_t		 i;
	long long	 id;

	*ids = xcalloc(json_array_size(list), sizeof **ids);
	*n = json_array_size(list);
	json_array_foreach(list, i, ref) {
		job = job_lookup(ref);
		if (job == NULL && json_is_integer(ref)) {
			/* A closed job's id is accepted. */
			id = json_integer_value(ref);
			if (id >= 1 && id <= job_last_id()) {
				(*ids)[i] = id;
				continue;
			}
		}
		if (job == NULL)
			method_job_not_found(req, ref);
		if (job == NULL || !method_may_act(req, job)) {
			free(*ids);
			return (-1);
		}
		(*ids)[i] = job->id;
	}
	return (0);
}

static enum method_return
method_subscribe_exec(struct request *req)
{
	json_t		*list, *since;
	long long	*ids = NULL, from, sub;
	size_t		 n = 0;

	since = json_object_get(req->params, "since");
	from = json_is_integer(since) ? json_integer_value(since) :
	    feed_last_seq();
	if (from > feed_last_seq())
		return (request_error(req, PROTO_INVALID_PARAMS,
		    "invalid params: 'since' %lld is past the newest event "
		    "%lld", from, feed_last_seq()));
	list = json_object_get(req->params, "jobs");
	if (json_is_array(list) &&
	    method_subscribe_ids(req, list, &ids, &n) == -1)
		return (METHOD_DONE);
	sub = feed_subscribe(req->client, json_is_array(list) ? ids : NULL,
	    n, from);
	if (!json_is_array(list))
		free(ids);
	return (request_reply(req, json_pack("{s:I, s:I}", "subscription",
	    (json_int_t)sub, "seq", (json_int_t)feed_last_seq())));
}

const struct method_entry method_subscribe_entry = {
	&proto_method_subscribe, 0, method_subscribe_exec
};
