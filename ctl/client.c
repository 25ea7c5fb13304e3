/* SPDX-License-Identifier: ISC */
/*
 * The calls every command makes to reach procd: connecting (and saying
 * how to start procd when nothing answers), one request and its reply,
 * and reporting an error reply the way people read it.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/*
 * How to start procd for the socket procctl could not reach: on the
 * default path, the service manager's units (socket activation); on any
 * other, procd itself on that path.
 */
static void
procctl_hint_start(struct procctl *ctl)
{
	const char	*env = getenv("PROCD_SOCKET");

	if (ctl->args.socket == NULL && (env == NULL || *env == '\0'))
		fprintf(stderr, "(is procd running? start it with: "
		    "systemctl%s start procd.socket, or: procd)\n",
		    getuid() == 0 ? "" : " --user");
	else
		fprintf(stderr, "(is procd running? start it with: "
		    "procd --socket %s)\n", ctl->socket);
}

/* Says why procctl will not talk to what answers on the socket. */
void
procctl_untrusted(struct procctl *ctl, uid_t peer)
{
	fprintf(stderr, "procctl: refusing %s: the daemon there runs as uid "
	    "%u, neither root nor your uid %u; nothing was sent\n",
	    ctl->socket, (unsigned)peer, (unsigned)geteuid());
}

int
procctl_connect(struct procctl *ctl)
{
	uid_t	peer;
	int	error;

	if (ctl->conn != NULL)
		return (0);
	if (ctl->socket == NULL &&
	    (ctl->socket = proto_socket_path(ctl->args.socket)) == NULL) {
		fprintf(stderr, "procctl: cannot resolve the socket path\n");
		return (-1);
	}
	if ((ctl->conn = conn_open(ctl->socket, &peer)) == NULL) {
		error = errno;
		if (error == EPERM) {
			procctl_untrusted(ctl, peer);
			return (-1);
		}
		fprintf(stderr, "procctl: cannot connect to %s: %s ",
		    ctl->socket, strerror(error));
		if (error == EACCES || error == EPERM)
			fprintf(stderr, "(check the socket's owner and mode)\n");
		else if (error == ENAMETOOLONG)
			fprintf(stderr, "(use a shorter --socket path)\n");
		else
			procctl_hint_start(ctl);
		return (-1);
	}
	ctl->conn->sigfd = ctl->sigfd;
	return (0);
}

void
procctl_disconnect(struct procctl *ctl)
{
	conn_free(ctl->conn);
	ctl->conn = NULL;
}

/* Reports that the connection failed or that procd closed it. */
void
procctl_lost(struct procctl *ctl)
{
	if (errno != 0)
		fprintf(stderr, "procctl: connection to %s failed: %s\n",
		    ctl->socket, strerror(errno));
	else
		fprintf(stderr, "procctl: procd closed the connection (%s)\n",
		    ctl->socket);
}

/*
 * Sends a request (stealing params) and waits for its response. Returns 0
 * with *reply, or -1 when procd could not be reached (reported).
 */
int
procctl_request(struct procctl *ctl, const char *method, json_t *params,
    json_t **reply)
{
	json_int_t	id;
	int		r;

	*reply = NULL;
	if (procctl_connect(ctl) == -1) {
		json_decref(params);
		return (-1);
	}
	if ((id = conn_send(ctl->conn, method, params)) == -1) {
		procctl_lost(ctl);
		return (-1);
	}
	while ((r = conn_wait(ctl->conn, id, reply)) == 0)
		ctl->interrupts++;
	if (r == -1) {
		procctl_lost(ctl);
		return (-1);
	}
	return (0);
}

/*
 * The result of a reply (borrowed), or NULL with *code set to the error
 * code (PROTO_INTERNAL_ERROR for a reply that is neither).
 */
json_t *
procctl_reply_result(const json_t *reply, int *code)
{
	json_t	*result, *error, *c;

	result = json_object_get(reply, "result");
	error = json_object_get(reply, "error");
	if (result != NULL && error == NULL)
		return (result);
	c = json_object_get(error, "code");
	*code = json_is_integer(c) ? (int)json_integer_value(c) :
	    PROTO_INTERNAL_ERROR;
	return (NULL);
}

/* Prints an error reply as "procctl: message (code)". */
void
procctl_reply_warn(const json_t *reply)
{
	json_t		*error, *code, *message, *data, *path, *during;
	const char	*text;
	char		 label[128];

	error = json_object_get(reply, "error");
	code = json_object_get(error, "code");
	message = json_object_get(error, "message");
	data = json_object_get(error, "data");
	if (!json_is_object(error)) {
		fprintf(stderr, "procctl: invalid reply from procd\n");
		return;
	}
	if (json_is_string(message))
		text = json_string_value(message);
	else if (json_is_integer(code))
		text = proto_code_message((int)json_integer_value(code));
	else
		text = "error";
	fprintf(stderr, "procctl: ");
	/* A job left by a failed start --wait-ready is named, to be closed. */
	if (json_is_integer(json_object_get(data, PROTO_F_ID))) {
		format_label(data, label, sizeof label);
		fprintf(stderr, "%s: ", label);
	}
	/* A spawn failure says what it failed to do, and on what. */
	path = json_object_get(data, "path");
	during = json_object_get(data, "during");
	if (json_is_string(path)) {
		if (json_is_string(during))
			fprintf(stderr, "%s ", json_string_value(during));
		fprintf(stderr, "%s: ", json_string_value(path));
	}
	fprintf(stderr, "%s", text);
	/* A string in data is detail for people; anything else is not. */
	if (json_is_string(data) && strstr(text, json_string_value(data)) ==
	    NULL)
		fprintf(stderr, ": %s", json_string_value(data));
	if (json_is_integer(code))
		fprintf(stderr, " (%lld)", (long long)json_integer_value(code));
	fputc('\n', stderr);
}

/* A request's result (a new reference), or NULL after reporting why not. */
json_t *
procctl_call(struct procctl *ctl, const char *method, json_t *params)
{
	json_t	*reply, *result;
	int	 code;

	if (procctl_request(ctl, method, params, &reply) == -1)
		return (NULL);
	if ((result = procctl_reply_result(reply, &code)) != NULL)
		json_incref(result);
	else
		procctl_reply_warn(reply);
	json_decref(reply);
	return (result);
}
