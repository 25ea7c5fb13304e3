/* SPDX-License-Identifier: ISC */
/*
 * procctl logs: a job's retained output, and with -f what follows, written
 * to the stream it came from. run follows its job's output the same way.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

static int	cmd_logs_exec(struct procctl *);

const struct procctl_command cmd_logs_entry = {
	"logs",
	"JOB [-f] [-n N] [--stdout|--stderr]",
	"Write JOB's retained stdout to stdout and its stderr to stderr.\n"
	"  -f, --follow      go on until the job has finished\n"
	"  -n, --tail N      only the last N lines\n"
	"  --stdout          only its stdout\n"
	"  --stderr          only its stderr\n",
	OPT_COMMON | OPT(OPT_FOLLOW) | OPT(OPT_TAIL) | OPT(OPT_STDOUT) |
	OPT(OPT_STDERR), "JOB", 1, 0,
	cmd_logs_exec
};

static void
cmd_logs_write(int fd, const unsigned char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		data += n;
		len -= n;
	}
}

/* Writes one log record's bytes to the stream it came from. */
static void
cmd_logs_record(struct cmd_follow *f, const json_t *record)
{
	json_t		*stream, *data;
	unsigned char	*bytes;
	ssize_t		 n;
	int		 fd;

	stream = json_object_get(record, "stream");
	data = json_object_get(record, "data");
	if (!json_is_string(stream) || !json_is_string(data))
		return;
	if (strcmp(json_string_value(stream), "stdout") == 0)
		fd = STDOUT_FILENO;
	else if (strcmp(json_string_value(stream), "stderr") == 0)
		fd = STDERR_FILENO;
	else
		return;
	bytes = xmalloc(json_string_length(data) / 4 * 3 + 3);
	n = proto_base64_decode(json_string_value(data),
	    json_string_length(data), bytes);
	if (n == -1) {
		free(bytes);
		if (!f->bad)
			fprintf(stderr, "procctl: skipped a log record that "
			    "is not base64\n");
		f->bad = 1;
		return;
	}
	cmd_logs_write(fd, bytes, n);
	free(bytes);
}

static void
cmd_logs_notify(const char *method, json_t *params, void *arg)
{
	struct cmd_follow	*f = arg;
	json_t			*request;

	if (strcmp(method, "log") != 0)
		return;
	request = json_object_get(params, "request");
	if (json_is_integer(request) && json_integer_value(request) ==
	    f->request)
		cmd_logs_record(f, params);
}

/* Sends a logs request for job (stealing it); returns its id or -1. */
json_int_t
cmd_logs_send(struct procctl *ctl, struct cmd_follow *f,
    json_t *job)
{
	struct procctl_args	*args = &ctl->args;
	json_t			*params;

	if (procctl_connect(ctl) == -1) {
		json_decref(job);
		return (-1);
	}
	params = json_object();
	json_object_set_new(params, "job", job);
	json_object_set_new(params, "encoding", json_string("base64"));
	if (args->streams == PROCCTL_STDOUT)
		json_object_set_new(params, "stream", json_string("stdout"));
	else if (args->streams == PROCCTL_STDERR)
		json_object_set_new(params, "stream", json_string("stderr"));
	if (args->tail >= 0)
		json_object_set_new(params, "tail", json_integer(args->tail));
	cmd_set_flag(params, "follow", args->follow);

	f->ctl = ctl;
	ctl->conn->notify = cmd_logs_notify;
	ctl->conn->notify_arg = f;
	if ((f->request = conn_send(ctl->conn, "logs", params)) == -1)
		procctl_lost(ctl);
	return (f->request);
}

static int
cmd_logs_exec(struct procctl *ctl)
{
	struct cmd_follow	 f;
	json_t			*job, *reply, *result, *record;
	size_t			 i;
	int			 r, code;

	memset(&f, 0, sizeof f);
	if ((job = procctl_job(ctl, ctl->args.operands[0])) == NULL)
		return (PROCCTL_EXIT_USAGE);
	if (cmd_logs_send(ctl, &f, job) == -1)
		return (PROCCTL_EXIT_ERROR);
	while ((r = conn_wait(ctl->conn, f.request, &reply)) == 0)
		ctl->interrupts++;
	if (r == -1) {
		procctl_lost(ctl);
		return (PROCCTL_EXIT_ERROR);
	}
	if ((result = procctl_reply_result(reply, &code)) == NULL) {
		procctl_reply_warn(reply);
		json_decref(reply);
		return (PROCCTL_EXIT_ERROR);
	}
	/* With follow the records came as notifications, already written. */
	json_array_foreach(json_object_get(result, "records"), i, record)
		cmd_logs_record(&f, record);
	json_decref(reply);
	return (PROCCTL_EXIT_OK);
}
