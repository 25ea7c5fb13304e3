/* SPDX-License-Identifier: ISC */
/*
 * list: job objects in id order, optionally only some states or the
 * children of one job. The answer is the jobs' cached texts joined.
 */

#include "config.h"

#include <stdlib.h>

#include "procd.h"

static void
method_list_add(struct evbuffer *b, const struct client *c,
    struct job *job, int mask)
{
	const char	*text;
	size_t		 len;

	if (!(mask & (1 << job->state)) || !user_may_act(c, job))
		return;
	text = job_text(job, &len);
	if (evbuffer_get_length(b) > 1)
		evbuffer_add(b, ",", 1);
	evbuffer_add(b, text, len);
}

static enum method_return
method_list_exec(struct request *req)
{
	struct job		*job, *parent = NULL;
	struct evbuffer		*b;
	enum method_return	 ret;
	json_t			*states;
	int			 mask = ~0;

	states = json_object_get(req->params, "state");
	if (states != NULL && !json_is_null(states))
		mask = proto_states_mask(states, NULL);
	if (json_object_get(req->params, "parent") != NULL &&
	    !json_is_null(json_object_get(req->params, "parent")) &&
	    (parent = method_job(req, "parent")) == NULL)
		return (METHOD_DONE);

	if ((b = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new failed", __func__);
	evbuffer_add(b, "[", 1);
	if (parent != NULL) {
		TAILQ_FOREACH(job, &parent->children, child_entry)
			method_list_add(b, req->client, job, mask);
	} else {
		TAILQ_FOREACH(job, &jobs, entry)
			method_list_add(b, req->client, job, mask);
	}
	evbuffer_add(b, "]", 1);
	ret = request_reply_text(req, NULL, (const char *)evbuffer_pullup(b,
	    -1), evbuffer_get_length(b), NULL);
	evbuffer_free(b);
	return (ret);
}

const struct method_entry method_list_entry = {
	&proto_method_list, 0, method_list_exec
};
