/* SPDX-License-Identifier: ISC */
/*
 * list: job objects in id order, optionally only some states or the
 * children of one job.
 */

#include "config.h"

#include "procd.h"

static const struct proto_param method_list_params[] = {
	{ "state",	PROTO_P_STATES,	0 },
	{ "parent",	PROTO_P_JOB,	0 },
	{ NULL,		0,		0 }
};

static enum method_return
method_list_exec(struct request *req)
{
	struct job	*job, *parent = NULL;
	json_t		*states, *result;
	int		 mask = ~0;

	states = json_object_get(req->params, "state");
	if (states != NULL && !json_is_null(states))
		mask = proto_states_mask(states, NULL);
	if (json_object_get(req->params, "parent") != NULL &&
	    !json_is_null(json_object_get(req->params, "parent")) &&
	    (parent = method_job(req, "parent")) == NULL)
		return (METHOD_DONE);

	result = json_array();
	if (parent != NULL) {
		TAILQ_FOREACH(job, &parent->children, child_entry) {
			if (mask & (1 << job->state))
				json_array_append_new(result, job_json(job));
		}
	} else {
		TAILQ_FOREACH(job, &jobs, entry) {
			if (mask & (1 << job->state))
				json_array_append_new(result, job_json(job));
		}
	}
	return (request_reply(req, result));
}

const struct method_entry method_list_entry = {
	"list", 0, method_list_params, method_list_exec
};
