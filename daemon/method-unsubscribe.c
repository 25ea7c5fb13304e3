/* SPDX-License-Identifier: ISC */
/*
 * unsubscribe: end one of this connection's subscriptions.
 */

#include "config.h"

#include "procd.h"

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
	&proto_method_unsubscribe, 0, method_unsubscribe_exec
};
