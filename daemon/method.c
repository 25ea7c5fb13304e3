/* SPDX-License-Identifier: ISC */
/*
 * The table of methods and the helpers their exec functions share. Adding
 * a method is one method-<name>.c file, one line here and one line in
 * Makefile.am.
 */

#include "config.h"

#include <string.h>

#include "procd.h"

static const struct method_entry *const method_table[] = {
	&method_start_entry,
	&method_join_entry,
	&method_terminate_entry,
	&method_kill_entry,
	&method_signal_entry,
	&method_close_entry,
	&method_status_entry,
	&method_list_entry,
	&method_info_entry,
	&method_logs_entry,
	&method_subscribe_entry,
	&method_unsubscribe_entry,
	&method_reexec_entry,
	&method_discover_entry,
	NULL
};

const struct method_entry *
method_find(const char *name)
{
	const struct method_entry *const	*m;

	for (m = method_table; *m != NULL; m++) {
		if (strcmp((*m)->proto->name, name) == 0)
			return (*m);
	}
	return (NULL);
}

/*
 * The job a JOB param of req names, if its client may act on it (the
 * access check of every method that names a job). If there is none, req
 * is answered with -32001, if it is another user's with -32004, and NULL
 * returned.
 */
struct job *
method_job(struct request *req, const char *key)
{
	json_t		*ref;
	struct job	*job;

	ref = json_object_get(req->params, key);
	if ((job = job_lookup(ref)) == NULL) {
		method_job_not_found(req, ref);
		return (NULL);
	}
	if (!method_may_act(req, job))
		return (NULL);
	return (job);
}

/*
 * May req's client act on job? If not, req is answered with -32004, the
 * same whatever the job's state.
 */
int
method_may_act(struct request *req, const struct job *job)
{
	if (user_may_act(req->client, job))
		return (1);
	request_error(req, PROTO_PERMISSION, "permission denied");
	return (0);
}

/* Answers req with -32001 for the JOB param ref. */
void
method_job_not_found(struct request *req, const json_t *ref)
{
	if (json_is_integer(ref))
		request_error(req, PROTO_JOB_NOT_FOUND, "job not found: %lld",
		    (long long)json_integer_value(ref));
	else
		request_error(req, PROTO_JOB_NOT_FOUND, "job not found: %s",
		    json_string_value(ref));
}

/* A boolean param, def when absent or null. */
int
method_bool(struct request *req, const char *key, int def)
{
	json_t	*v;

	v = json_object_get(req->params, key);
	return (json_is_boolean(v) ? json_is_true(v) : def);
}

/* A number-of-seconds param, def when absent or null. */
double
method_seconds(struct request *req, const char *key, double def)
{
	json_t	*v;

	v = json_object_get(req->params, key);
	return (json_is_number(v) ? json_number_value(v) : def);
}

/* A param as given, NULL when absent or null. */
json_t *
method_param(struct request *req, const char *key)
{
	json_t	*v;

	v = json_object_get(req->params, key);
	return (json_is_null(v) ? NULL : v);
}

/* A string param, NULL when absent or null. */
const char *
method_string(struct request *req, const char *key)
{
	return (json_string_value(json_object_get(req->params, key)));
}

void
method_timeval(double seconds, struct timeval *tv)
{
	tv->tv_sec = (time_t)seconds;
	tv->tv_usec = (suseconds_t)((seconds - (double)tv->tv_sec) * 1e6);
}
