/* SPDX-License-Identifier: ISC */
/*
 * unsubscribe: end one of this connection's subscriptions.
 */

#include "config.h"

#include "procd.h"

static const struct proto_param method_unsubscribe_params[] = {
	{ "subscription",	PROTO_P_UINT,	1 },
	{ NULL,			0,		0 }
};

static enum method_return
method_unsubscribe_exec(struct request *req)
{
	long long	sub;

	sub = json_integer_value(json_object_get(req->params,
	    "subscription"));
	if (feed_unsubscribe(req->client, sub) == -1)
		return (request_error(req, PROTO_INVALID_PARAMS,
		    "invalid params: no subscription %lld on this connection",
		    sub));
	return (request_reply(req, json_true()));
}

const struct method_entry method_unsubscribe_entry = {
	"unsubscribe", 0, method_unsubscribe_params, method_unsubscribe_exec
};
