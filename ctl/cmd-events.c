/* SPDX-License-Identifier: ISC */
/*
 * procctl events (and its alias subscribe): one line per event until
 * interrupted, reconnecting with since when procd goes away.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "procctl.h"

/* Reconnection delays of procctl events, in milliseconds. */
#define CMD_EVENTS_RETRY_MIN	100
#define CMD_EVENTS_RETRY_MAX	5000

static int	cmd_events_exec(struct procctl *);

const struct procctl_command cmd_events_entry = {
	"events",
	"[JOB...]",
	"Print one line per job event (of the given jobs, or all) until\n"
	"interrupted; reconnects if procd goes away.\n",
	OPT_COMMON, "", -1, 0,
	cmd_events_exec
};

const struct procctl_command cmd_subscribe_entry = {
	"subscribe",
	"[JOB...]",
	"The same as events: subscribe and print one line per event.\n",
	OPT_COMMON, "", -1, 0,
	cmd_events_exec
};

static void
cmd_events_notify(const char *method, json_t *params, void *arg)
{
	struct cmd_follow	*f = arg;
	json_t			*seq, *event;

	if (strcmp(method, "event") != 0 || !json_is_object(params))
		return;
	seq = json_object_get(params, "seq");
	event = json_object_get(params, "event");
	if (!json_is_integer(seq))
		return;
	/* A replay after a reconnection must not repeat what was shown. */
	if (f->have_seq && json_integer_value(seq) <= f->seq)
		return;
	f->seq = json_integer_value(seq);
	if (json_is_string(event) &&
	    strcmp(json_string_value(event), "gap") == 0 &&
	    json_is_integer(json_object_get(params, "to")) &&
	    json_integer_value(json_object_get(params, "to")) > f->seq)
		f->seq = json_integer_value(json_object_get(params, "to"));
	f->have_seq = 1;

	if (f->ctl->args.json)
		format_json(params);
	else
		format_event(params);
	fflush(stdout);
}

/*
 * Tells one procd from the next by its pid and start time: after a
 * restart the sequence numbers start again and since means nothing.
 * Returns 0, 1 when the connection failed, -1 on an error reply.
 */
static int
cmd_events_identity(struct procctl *ctl, char **out)
{
	json_t		*reply, *info, *pid, *started;
	int		 code;

	if (procctl_request(ctl, "info", NULL, &reply) == -1)
		return (1);
	if ((info = procctl_reply_result(reply, &code)) == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (-1);
	}
	pid = json_object_get(info, "pid");
	started = json_object_get(info, "started_at");
	xasprintf(out, "%lld %s", json_is_integer(pid) ?
	    (long long)json_integer_value(pid) : 0LL, json_is_string(started) ?
	    json_string_value(started) : "");
	json_decref(reply);
	return (0);
}

/*
 * Subscribes on a new connection, asking for what was missed when it is
 * still the same procd. Returns 0, 1 when the connection failed (try
 * again) and -1 on an error reply.
 */
static int
cmd_events_subscribe(struct procctl *ctl, struct cmd_follow *f,
    json_t *jobs, char **identity)
{
	json_t	*params, *reply, *result, *seq;
	char	*id;
	int	 r, code, since;

	if ((r = cmd_events_identity(ctl, &id)) != 0)
		return (r);
	if (*identity != NULL && strcmp(*identity, id) != 0) {
		fprintf(stderr, "procctl: procd restarted; events may have "
		    "been lost\n");
		f->have_seq = 0;
	}
	free(*identity);
	*identity = id;

	for (;;) {
		params = json_object();
		if (jobs != NULL)
			json_object_set(params, "jobs", jobs);
		if ((since = f->have_seq))
			json_object_set_new(params, "since",
			    json_integer(f->seq));
		if (procctl_request(ctl, "subscribe", params, &reply) == -1)
			return (1);
		result = procctl_reply_result(reply, &code);
		if (result != NULL || !since || code != PROTO_INVALID_PARAMS)
			break;
		/* A since procd never reached: it restarted after all. */
		json_decref(reply);
		fprintf(stderr, "procctl: procd restarted; events may have "
		    "been lost\n");
		f->have_seq = 0;
	}
	if (result == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (-1);
	}
	seq = json_object_get(result, "seq");
	if (!f->have_seq && json_is_integer(seq)) {
		f->seq = json_integer_value(seq);
		f->have_seq = 1;
	}
	json_decref(reply);
	return (0);
}

/* Shows events until interrupted or an error reply; -1 for the latter. */
static int
cmd_events_loop(struct procctl *ctl, struct cmd_follow *f,
    json_t *jobs)
{
	json_t	*reply;
	char	*identity = NULL;
	uid_t	 peer;
	int	 r, error = 0, delay = CMD_EVENTS_RETRY_MIN, dropped = 0;

	for (;;) {
		if (ctl->conn == NULL) {
			if (cmd_sleep(ctl, delay) == -1)
				break;
			if (delay < CMD_EVENTS_RETRY_MAX / 2)
				delay *= 2;
			else
				delay = CMD_EVENTS_RETRY_MAX;
			if ((ctl->conn = procctl_open(ctl, &peer)) == NULL) {
				if (errno != EPERM)
					continue;
				procctl_untrusted(ctl, peer);
				error = 1;
				break;
			}
			ctl->conn->sigfd = ctl->sigfd;
		}
		ctl->conn->notify = cmd_events_notify;
		ctl->conn->notify_arg = f;
		if ((r = cmd_events_subscribe(ctl, f, jobs, &identity)) == -1) {
			error = 1;
			break;
		}
		/*
		 * Over --host, a first ssh that brought no answer is what a
		 * refused connect is here: only the first must succeed.
		 */
		if (r == 1 && identity == NULL && ctl->args.host != NULL &&
		    !ctl->conn->heard) {
			error = 1;
			break;
		}
		if (ctl->interrupts > 0)
			break;
		if (r == 0) {
			if (dropped)
				fprintf(stderr, "procctl: reconnected to %s\n",
				    ctl->socket);
			dropped = 0;
			delay = CMD_EVENTS_RETRY_MIN;
			if (conn_wait(ctl->conn, 0, &reply) == 0) {
				ctl->interrupts++;
				break;
			}
			procctl_lost(ctl);
		}
		if (!dropped)
			fprintf(stderr, "procctl: reconnecting to %s\n",
			    ctl->socket);
		dropped = 1;
		procctl_disconnect(ctl);
	}
	free(identity);
	return (error ? -1 : 0);
}

static int
cmd_events_exec(struct procctl *ctl)
{
	struct cmd_follow	 f;
	json_t			*jobs = NULL, *v;
	int			 i, status = PROCCTL_EXIT_OK;

	memset(&f, 0, sizeof f);
	f.ctl = ctl;
	if (ctl->args.noperands > 0)
		jobs = json_array();
	for (i = 0; i < ctl->args.noperands; i++) {
		if ((v = procctl_job(ctl, ctl->args.operands[i])) == NULL) {
			json_decref(jobs);
			return (PROCCTL_EXIT_USAGE);
		}
		json_array_append_new(jobs, v);
	}
	/* Only the first connection must succeed; later ones are retried. */
	if (cmd_catch(ctl) == -1 || procctl_connect(ctl) == -1 ||
	    cmd_events_loop(ctl, &f, jobs) == -1)
		status = PROCCTL_EXIT_ERROR;
	json_decref(jobs);
	return (status);
}
