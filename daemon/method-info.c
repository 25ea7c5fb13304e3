/* SPDX-License-Identifier: ISC */
/*
 * info: about procd itself.
 */

#include "config.h"

#include <unistd.h>

#include "procd.h"

static enum method_return
method_info_exec(struct request *req)
{
	struct user	*u;
	json_t		*counts;
	char		 started[40], image[40];
	int		 i;

	/* Only the jobs the client may act on: all of them for root. */
	u = req->client->uid == 0 ? NULL : req->client->user;
	counts = json_object();
	for (i = 0; i < PROTO_NSTATES; i++)
		json_object_set_new(counts, proto_state_name(i),
		    json_integer(u == NULL ? jobs_state_count[i] :
		    u->state_count[i]));
	return (request_reply(req, json_pack("{s:s, s:s, s:i, s:I, s:s, s:s, "
	    "s:I, s:s, s:o, s:b}",
	    "version", PROCD_VERSION,
	    "protocol", PROTO_VERSION,
	    "pid", (int)procd_pid,
	    "uid", (json_int_t)getuid(),
	    "started_at", time_rfc3339(&procd_started, started,
		sizeof started),
	    "image_started_at", time_rfc3339(&procd_image_started, image,
		sizeof image),
	    "reexecs", (json_int_t)procd_reexecs,
	    "socket", listen_socket_path(),
	    "jobs", counts,
	    "cgroups", cgroup_available(NULL))));
}

const struct method_entry method_info_entry = {
	&proto_method_info, 0, method_info_exec
};
