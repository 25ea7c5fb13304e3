/* SPDX-License-Identifier: ISC */
/*
 * procctl run: start a job, pass its output through and exit with its
 * status; an interrupt terminates the job, a second one kills it.
 */

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

static int	cmd_run_exec(struct procctl *);

const struct procctl_command cmd_run_entry = {
	"run",
	SPAWN_SYNOPSIS " [--rm]\n[--] CMD [ARG...]",
	"Start CMD as a new job, pass its output through and exit with its\n"
	"status. The job's stdin is /dev/null. An interrupt terminates the\n"
	"job, a second one kills it.\n"
	"  --name N          name the job (default run-PID, PID being\n"
	"                    procctl's own)\n" SPAWN_HELP
	"  --rm              close the job's record once it has finished\n",
	OPT_COMMON | OPT_SPAWN | OPT(OPT_RM), "CMD", -1, 1,
	cmd_run_exec
};

/* The first interrupt of run terminates the job, the second kills it. */
static void
cmd_run_stop(struct procctl *ctl, json_t *id, int n)
{
	json_t	*params;

	if (n > 2)
		return;
	params = json_object();
	json_object_set(params, "job", id);
	/* The answer is not awaited; the job's end is what counts. */
	conn_send(ctl->conn, n == 1 ? "terminate" : "kill", params);
}

/* Waits for the response to request, acting on interrupts meanwhile. */
static int
cmd_run_wait(struct procctl *ctl, struct cmd_follow *f, json_t *id,
    json_int_t request, json_t **reply)
{
	int	r;

	for (;;) {
		while (f->stops < ctl->interrupts)
			cmd_run_stop(ctl, id, ++f->stops);
		if ((r = conn_wait(ctl->conn, request, reply)) == 1)
			return (0);
		if (r == -1) {
			procctl_lost(ctl);
			return (-1);
		}
		ctl->interrupts++;
	}
}

/*
 * Waits until the job's output is complete and returns its status; sets
 * *finished when procd said the job has finished.
 */
static int
cmd_run_follow(struct procctl *ctl, struct cmd_follow *f,
    json_t *id, int *finished)
{
	json_t	*reply, *result;
	int	 code, status;

	*finished = 0;
	if (cmd_run_wait(ctl, f, id, f->request, &reply) == -1)
		return (PROCCTL_EXIT_ERROR);
	if ((result = procctl_reply_result(reply, &code)) == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (PROCCTL_EXIT_ERROR);
	}
	status = proto_job_exit_status(json_object_get(result, "job"));
	json_decref(reply);
	if (status == -1) {
		cmd_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	*finished = 1;
	return (status);
}

/* run --rm: the finished job's record goes, as docker run --rm's does. */
static int
cmd_run_remove(struct procctl *ctl, json_t *id)
{
	json_t	*params, *job;

	params = json_object();
	json_object_set(params, "job", id);
	if ((job = procctl_call(ctl, "close", params)) == NULL)
		return (-1);
	json_decref(job);
	return (0);
}

/*
 * The id of the job a pending start made, asked by its name; NULL when
 * start has answered meanwhile or the question failed. procd answers a
 * connection's requests in order unless it parks one (start with
 * wait_ready), so a status answer that comes before start's means start
 * was parked and the job of that name is the one it made, not another
 * one holding the name, which start would have refused at once.
 */
static json_t *
cmd_run_probe(struct procctl *ctl, json_t *name, json_int_t start)
{
	json_t		*params, *reply, *result, *id = NULL;
	json_int_t	 probe;
	int		 code, r;

	params = json_object();
	json_object_set(params, "job", name);
	if ((probe = conn_send(ctl->conn, "status", params)) == -1)
		return (NULL);
	while ((r = conn_wait(ctl->conn, probe, &reply)) == 0)
		ctl->interrupts++;
	if (r == -1)
		return (NULL);
	if (!conn_stashed(ctl->conn, start) &&
	    (result = procctl_reply_result(reply, &code)) != NULL &&
	    json_is_integer(id = json_object_get(result, PROTO_F_ID)))
		json_incref(id);
	else
		id = NULL;
	json_decref(reply);
	return (id);
}

/*
 * Waits for the answer to start, which comes only once the job is ready
 * with --wait-ready. An interrupt meanwhile stops the job as it would
 * later, once its id is known.
 */
static int
cmd_run_start_wait(struct procctl *ctl, struct cmd_follow *f,
    json_t *name, json_int_t request, json_t **reply)
{
	json_t	*id = NULL;
	int	 r;

	while ((r = conn_wait(ctl->conn, request, reply)) == 0) {
		ctl->interrupts++;
		if ((id = cmd_run_probe(ctl, name, request)) != NULL)
			break;
	}
	if (id != NULL) {
		r = cmd_run_wait(ctl, f, id, request, reply);
		json_decref(id);
		return (r);
	}
	if (r == -1) {
		procctl_lost(ctl);
		return (-1);
	}
	return (0);
}

/*
 * The job of an error answer to start that leaves one behind (-32005 with
 * --wait-ready: it exited before it was ready, or was not ready in time),
 * or NULL.
 */
static json_t *
cmd_run_error_job(const json_t *reply)
{
	json_t	*error, *data;

	error = json_object_get(reply, "error");
	data = json_object_get(error, "data");
	if (!json_is_integer(json_object_get(error, "code")) ||
	    json_integer_value(json_object_get(error, "code")) !=
	    PROTO_SPAWN_FAILED ||
	    !json_is_integer(json_object_get(data, PROTO_F_ID)))
		return (NULL);
	return (json_incref(data));
}

/*
 * Sends start and a logs follow for the same job, by name, in one write:
 * procd takes both before it next reads the job's pipes, so no output is
 * lost however much the job writes at once. Without --name, a name is
 * made from procctl's pid. Returns the start reply, or NULL (with a
 * message) and sets *retry when that made-up name was taken. After an
 * error that leaves a job behind, returns that job and sets *failed.
 */
static json_t *
cmd_run_start(struct procctl *ctl, json_t *params, int made,
    struct cmd_follow *f, int *retry, int *failed)
{
	json_t		*reply, *result, *name;
	json_int_t	 request;
	int		 code;

	*retry = *failed = 0;
	name = json_object_get(params, "name");
	if (procctl_connect(ctl) == -1)
		return (NULL);
	conn_cork(ctl->conn);
	request = conn_send(ctl->conn, "start", json_incref(params));
	ctl->args.follow = 1;
	if (request == -1 || cmd_logs_send(ctl, f,
	    json_incref(name)) == -1 || conn_uncork(ctl->conn) == -1) {
		procctl_lost(ctl);
		return (NULL);
	}
	if (cmd_run_start_wait(ctl, f, name, request, &reply) == -1)
		return (NULL);
	if ((result = procctl_reply_result(reply, &code)) != NULL) {
		json_incref(result);
		json_decref(reply);
		return (result);
	}
	result = cmd_run_error_job(reply);
	/*
	 * A job interrupted before it was ready ends as run's interrupts
	 * always make it end, and its status says so; no need to tell.
	 */
	if (result != NULL && ctl->interrupts > 0) {
		json_decref(reply);
		return (result);
	}
	if (made && code == PROTO_NAME_IN_USE)
		*retry = 1;
	else {
		procctl_reply_warn(reply);
		*failed = result != NULL;
	}
	json_decref(reply);
	return (result);
}

static int
cmd_run_exec(struct procctl *ctl)
{
	struct cmd_follow	 f;
	json_t			*params, *job = NULL, *id;
	char			 name[64];
	int			 status, made, retry = 1, attempt, failed = 0;
	int			 finished;

	if ((params = cmd_spawn_params(ctl, &status)) == NULL)
		return (status);
	if (cmd_catch(ctl) == -1) {
		json_decref(params);
		return (PROCCTL_EXIT_ERROR);
	}
	made = json_object_get(params, "name") == NULL;
	for (attempt = 0; retry && attempt < 100; attempt++) {
		if (made) {
			snprintf(name, sizeof name, attempt == 0 ? "run-%ld" :
			    "run-%ld-%d", (long)getpid(), attempt);
			json_object_set_new(params, "name", json_string(name));
		}
		memset(&f, 0, sizeof f);
		job = cmd_run_start(ctl, params, made, &f, &retry,
		    &failed);
	}
	json_decref(params);
	if (job == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (!json_is_integer(id = json_object_get(job, PROTO_F_ID))) {
		json_decref(job);
		cmd_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	json_incref(id);
	json_decref(job);
	/*
	 * A job that was not ready still runs its course (its output, its
	 * restarts) as run shows it, but start failed, which the status says.
	 */
	status = cmd_run_follow(ctl, &f, id, &finished);
	if (finished && ctl->args.rm && cmd_run_remove(ctl, id) == -1)
		failed = 1;
	json_decref(id);
	return (failed ? PROCCTL_EXIT_ERROR : status);
}
