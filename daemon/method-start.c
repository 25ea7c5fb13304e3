/* SPDX-License-Identifier: ISC */
/*
 * start: spawn a worker and enter it in the job table. The answer comes
 * only after the worker has exec'd, or carries the exec error.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "procd.h"

/* Checks the parent param; answers req and returns -1 if it is unfit. */
static int
method_start_parent(struct request *req, struct job **parent)
{
	*parent = NULL;
	if (json_object_get(req->params, "parent") == NULL ||
	    json_is_null(json_object_get(req->params, "parent")))
		return (0);
	if ((*parent = method_job(req, "parent")) == NULL)
		return (-1);
	if ((*parent)->daemon) {
		request_error(req, PROTO_INVALID_PARENT,
		    "daemonic jobs are not allowed to have children");
		return (-1);
	}
	if ((*parent)->state != PROTO_RUNNING) {
		request_error(req, PROTO_INVALID_PARENT,
		    "parent job %lld is %s, not running", (*parent)->id,
		    proto_state_name((*parent)->state));
		return (-1);
	}
	return (0);
}

/*
 * Who the job runs as (see user.c), within the limits on jobs, overall
 * and per owner (root is exempt from the latter). Answers req and
 * returns -1 if it may not be started.
 */
static int
method_start_owner(struct request *req, struct user_creds *cr)
{
	struct user	*u;
	char		*cause;
	int		 code;

	if (jobs_count >= procd_config.max_jobs) {
		request_error(req, PROTO_LIMIT, "job limit reached (%zu jobs "
		    "not closed)", procd_config.max_jobs);
		return (-1);
	}
	if (user_start_creds(req->client, method_param(req, "user"),
	    method_param(req, "group"), cr, &code, &cause) == -1) {
		request_error(req, code, "%s", cause);
		free(cause);
		return (-1);
	}
	if (cr->uid != 0 && (u = user_find(cr->uid)) != NULL &&
	    u->jobs >= procd_config.max_jobs_per_user) {
		request_error(req, PROTO_LIMIT, "job limit reached for uid %u "
		    "(%zu jobs not closed)", (unsigned)cr->uid,
		    procd_config.max_jobs_per_user);
		user_creds_clear(cr);
		return (-1);
	}
	return (0);
}

/* Who started what, as whom: for the log, whatever -v says. */
static void
method_start_log(struct request *req, struct job *job)
{
	struct client	*c = req->client;

	log_info("client %u (uid %u pid %ld) started job %lld (%s) pid %ld "
	    "as uid %u gid %u: %s", c->id, (unsigned)c->uid, (long)c->pid,
	    job->id, job->name, (long)job->pid, (unsigned)job->uid,
	    (unsigned)job->gid, json_string_value(json_array_get(job->argv,
	    0)));
}

static enum method_return
method_start_exec(struct request *req)
{
	struct user_creds	 cr;
	struct job		*job, *parent;
	const char		*name, *cwd;
	char			*cause;
	json_t			*data;
	json_t			*limit;
	pid_t			 pid;
	int			 mode;

	if (procd_stopping)
		return (request_error(req, PROTO_STOPPING,
		    "procd is stopping; no new jobs"));
	if ((mode = output_mode_parse(method_string(req, "output"))) == -1)
		return (request_error(req, PROTO_INVALID_PARAMS,
		    "invalid params: 'output' must be capture, inherit or "
		    "null"));
	name = method_string(req, "name");
	if (name != NULL && job_find_name(name) != NULL)
		return (request_error(req, PROTO_NAME_IN_USE,
		    "name in use: %s", name));
	if (method_start_parent(req, &parent) == -1)
		return (METHOD_DONE);
	if (method_start_owner(req, &cr) == -1)
		return (METHOD_DONE);
	if (parent != NULL && parent->uid != cr.uid) {
		user_creds_clear(&cr);
		return (request_error(req, PROTO_INVALID_PARENT,
		    "a child job must have its parent's owner"));
	}
	if ((cwd = method_string(req, "cwd")) == NULL)
		cwd = "/";

	job = job_create(json_object_get(req->params, "argv"), name, cwd,
	    &cr, method_bool(req, "daemon", 0), method_seconds(req,
	    "stop_timeout", PROTO_STOP_TIMEOUT), parent);
	limit = json_object_get(req->params, "log_limit");
	output_init(job, mode, json_is_integer(limit) ?
	    (size_t)json_integer_value(limit) : procd_config.log_limit);
	pid = spawn_job(job, json_object_get(req->params, "env"), &cr, &cause,
	    &data);
	user_creds_clear(&cr);
	if (pid == -1) {
		job_discard(job);
		request_error_data(req, PROTO_SPAWN_FAILED, data, "%s", cause);
		free(cause);
		return (METHOD_DONE);
	}
	job_started(job, pid);
	method_start_log(req, job);
	return (request_reply_job(req, job));
}

const struct method_entry method_start_entry = {
	"start", 0, proto_params_start, method_start_exec
};
