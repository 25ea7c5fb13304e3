/* SPDX-License-Identifier: ISC */
/*
 * start: spawn a worker and enter it in the job table. The answer comes
 * only after the worker has exec'd, or carries the exec error; with
 * wait_ready, only once the worker said READY=1 (ready.c).
 */

#include "config.h"

#include <errno.h>
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

	/* The spawns out may yet count against the limits. */
	if (jobs_count + spawn_pending() >= procd_config.max_jobs)
		spawn_defer_flush();
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
	    u->jobs + spawn_pending() >= procd_config.max_jobs_per_user)
		spawn_defer_flush();
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

/* The params of sections 10-12, checked before anything is made. */
struct method_start_supervision {
	int		 policy;
	double		 delay;
	double		 max_delay;
	long long	 limit;
	int		 notify;
	int		 wait_ready;
	double		 ready_timeout;	/* -1: none */
	int		 tree;
};

static int
method_start_restart(struct request *req, struct method_start_supervision *sv)
{
	json_t	*limit;

	if ((sv->policy = jobstate_policy_parse(method_string(req,
	    "restart"))) == -1) {
		request_error(req, PROTO_INVALID_PARAMS, "invalid params: "
		    "'restart' must be no, on-failure or always");
		return (-1);
	}
	sv->delay = method_seconds(req, "restart_delay", PROTO_RESTART_DELAY);
	/* Left out, the cap is never below the delay asked for. */
	sv->max_delay = method_seconds(req, "restart_max_delay",
	    sv->delay > PROTO_RESTART_MAX_DELAY ? sv->delay :
	    PROTO_RESTART_MAX_DELAY);
	/* Without a policy they are taken and have no effect. */
	if (sv->policy != JOB_RESTART_NO && sv->max_delay < sv->delay) {
		request_error(req, PROTO_INVALID_PARAMS, "invalid params: "
		    "'restart_max_delay' must not be less than 'restart_delay'");
		return (-1);
	}
	limit = json_object_get(req->params, "restart_limit");
	sv->limit = json_is_integer(limit) ? json_integer_value(limit) : -1;
	return (0);
}

/* Answers req and returns -1 if a supervision param is unfit. */
static int
method_start_supervision(struct request *req,
    struct method_start_supervision *sv)
{
	const char	*mode, *why;

	if (method_start_restart(req, sv) == -1)
		return (-1);
	sv->notify = method_bool(req, "notify", 0);
	sv->wait_ready = method_bool(req, "wait_ready", 0);
	sv->ready_timeout = method_seconds(req, "ready_timeout", -1);
	if (sv->wait_ready && !sv->notify) {
		request_error(req, PROTO_INVALID_PARAMS, "invalid params: "
		    "'wait_ready' needs 'notify'");
		return (-1);
	}
	if (sv->ready_timeout >= 0 && !sv->wait_ready) {
		request_error(req, PROTO_INVALID_PARAMS, "invalid params: "
		    "'ready_timeout' needs 'wait_ready'");
		return (-1);
	}
	mode = method_string(req, "kill_mode");
	sv->tree = mode != NULL && strcmp(mode, "tree") == 0;
	if (mode != NULL && !sv->tree && strcmp(mode, "group") != 0) {
		request_error(req, PROTO_INVALID_PARAMS, "invalid params: "
		    "'kill_mode' must be group or tree");
		return (-1);
	}
	if (sv->tree && !cgroup_available(&why)) {
		request_error(req, PROTO_INVALID_PARAMS, "invalid params: "
		    "'kill_mode' tree is not available: %s", why);
		return (-1);
	}
	return (0);
}

static void
method_start_apply(struct job *job, const struct method_start_supervision *sv,
    json_t *env)
{
	job->restart_policy = sv->policy;
	job->restart_delay = sv->delay;
	job->restart_last_delay = -1;
	job->restart_max_delay = sv->max_delay;
	job->restart_limit = sv->limit;
	job->notify = sv->notify;
	job->tree = sv->tree;
	if (env != NULL)
		job->env = json_incref(env);
}

/*
 * Makes a tree job's cgroup, then its worker. Returns the pid, or -1 with
 * the error's *code, *cause and *data.
 */
static pid_t
method_start_spawn(struct job *job, int *code, char **cause, json_t **data)
{
	const char	*why;
	int		 error;

	*code = PROTO_SPAWN_FAILED;
	if (!job->tree || cgroup_job_create(job) == 0)
		return (spawn_job(job, cause, data));
	error = errno;
	*data = NULL;
	if (!cgroup_available(&why)) {
		*code = PROTO_INVALID_PARAMS;
		xasprintf(cause, "invalid params: 'kill_mode' tree is not "
		    "available: %s", why);
		return (-1);
	}
	*cause = xstrdup(strerror(error));
	*data = json_pack("{s:i, s:s}", "errno", error, "during", "cgroup");
	return (-1);
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
	struct method_start_supervision sv;
	struct user_creds	 cr;
	struct job		*job, *parent;
	const char		*name, *cwd;
	char			*cause;
	json_t			*data;
	json_t			*limit;
	struct requests		*queue;
	pid_t			 pid;
	int			 mode, code;

	if (procd_stopping)
		return (request_error(req, PROTO_STOPPING,
		    "procd is stopping; no new jobs"));
	if ((mode = output_mode_parse(method_string(req, "output"))) == -1)
		return (request_error(req, PROTO_INVALID_PARAMS,
		    "invalid params: 'output' must be capture, inherit or "
		    "null"));
	name = method_string(req, "name");
	/* A spawn out decides whether the name or parent is there. */
	if ((name != NULL && spawn_pending_find(name) != NULL) ||
	    (spawn_pending() > 0 && method_param(req, "parent") != NULL))
		spawn_defer_flush();
	if (name != NULL && job_find_name(name) != NULL)
		return (request_error(req, PROTO_NAME_IN_USE,
		    "name in use: %s", name));
	if (method_start_supervision(req, &sv) == -1)
		return (METHOD_DONE);
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
	method_start_apply(job, &sv, json_object_get(req->params, "env"));
	if (!sv.wait_ready && (queue = spawn_job_defer(job, name != NULL,
	    req->client->npending > 0)) != NULL)
		return (request_park_job(req, job, queue, -1, NULL));
	if ((pid = method_start_spawn(job, &code, &cause, &data)) == -1) {
		job_discard(job);
		request_error_data(req, code, data, "%s", cause);
		free(cause);
		return (METHOD_DONE);
	}
	job_started(job, pid);
	method_start_log(req, job);
	if (sv.wait_ready)
		return (ready_wait(req, job, sv.ready_timeout));
	return (request_reply_job(req, job));
}

/*
 * The end of a spawn a spawner made (spawn.c): req, if its client is
 * still there, is answered, and so is a join that waited on a job whose
 * spawn failed, as one sent after the start would have been.
 */
void
method_start_spawned(struct job *job, struct request *req, int auto_name,
    pid_t pid, char *cause, json_t *data)
{
	struct request	*join;

	if (pid == -1) {
		while ((join = TAILQ_FIRST(&job->waiters)) != NULL)
			method_job_not_found(join, json_object_get(join->params,
			    "job"));
		job_discard(job);
		if (req != NULL)
			request_error_data(req, PROTO_SPAWN_FAILED, data, "%s",
			    cause);
		else
			json_decref(data);
		free(cause);
		return;
	}
	job_renumber(job, auto_name);
	job_started(job, pid);
	if (req == NULL) {
		log_info("job %lld (%s) started pid %ld, its client gone",
		    job->id, job->name, (long)pid);
		return;
	}
	method_start_log(req, job);
	request_reply_job(req, job);
}

const struct method_entry method_start_entry = {
	&proto_method_start, METHOD_SPAWNS_OUT, method_start_exec
};
