/* SPDX-License-Identifier: ISC */
/*
 * rpc.discover: the OpenRPC document of every method procd serves, as
 * OpenRPC names the method. It is built from the table in proto/, which
 * the dispatch table refers to, so it cannot describe a method that is
 * not served nor miss one that is.
 */

#include "config.h"

#include "procd.h"

static enum method_return
method_discover_exec(struct request *req)
{
	return (request_reply(req, proto_openrpc(PROCD_VERSION)));
}

const struct method_entry method_discover_entry = {
	&proto_method_discover, 0, method_discover_exec
};
