/* SPDX-License-Identifier: ISC */
/*
 * status: one job object.
 */

#include "config.h"

#include "procd.h"

static enum method_return
method_status_exec(struct request *req)
{
	struct job	*job;

	if ((job = method_job(req, "job")) == NULL)
		return (METHOD_DONE);
	return (request_reply_job(req, job));
}

const struct method_entry method_status_entry = {
	&proto_method_status, 0, method_status_exec
};
