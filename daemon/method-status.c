/* SPDX-License-Identifier: ISC */
/*
 * status: one job object.
 */

#include "config.h"

#include "procd.h"

static const struct proto_param method_status_params[] = {
	{ "job",	PROTO_P_JOB,	1 },
	{ NULL,		0,		0 }
};

static enum method_return
method_status_exec(struct request *req)
{
	struct job	*job;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	return (request_reply_job(req, job));
}

const struct method_entry method_status_entry = {
	"status", 0, method_status_params, method_status_exec
};
