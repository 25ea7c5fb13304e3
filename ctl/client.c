/* SPDX-License-Identifier: ISC */
/*
 * The calls every command makes to reach procd: connecting (and saying
 * how to start procd when nothing answers), here or on another host
 * through ssh, one request and its reply, and reporting an error reply
 * the way people read it.
 */

#include "config.h"

#include <sys/wait.h>

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

/* The program -H runs: ssh, or PROCCTL_SSH (as systemd's SYSTEMD_SSH). */
static const char *
procctl_ssh_program(void)
{
	const char	*env = getenv("PROCCTL_SSH");

	return (env != NULL && *env != '\0' ? env : "ssh");
}

/*
 * s as one word for the remote shell, which ssh gives the command line
 * to: as it is when it holds nothing special, else in single quotes
 * (procctl_host_split refuses what they would not protect).
 */
static char *
procctl_shell_word(const char *s)
{
	char	*word;

	if (strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789/._+,:@%=-") == strlen(s))
		return (xstrdup(s));
	xasprintf(&word, "'%s'", s);
	return (word);
}

/*
 * A connection to procd on another host: ssh runs "procctl bridge"
 * there, which relays it to that host's socket and checks who answers
 * there as procctl does here. -x and -T: no X11, no terminal, whose line
 * discipline would change the bytes. NULL with errno set if ssh cannot
 * be run.
 */
static struct conn *
procctl_ssh(struct procctl *ctl)
{
	struct conn	*conn;
	const char	*argv[16], *why;
	char		*user, *host, *socket, *word = NULL;
	int		 n = 0, error;

	/* Checked when the option was read. */
	if (procctl_host_split(ctl->args.host, &user, &host, &socket,
	    &why) == -1) {
		errno = EINVAL;
		return (NULL);
	}
	argv[n++] = procctl_ssh_program();
	argv[n++] = "-x";
	argv[n++] = "-T";
	if (user != NULL) {
		argv[n++] = "-l";
		argv[n++] = user;
	}
	argv[n++] = "--";
	argv[n++] = host;
	argv[n++] = "procctl";
	argv[n++] = "bridge";
	if (socket != NULL) {
		argv[n++] = "--socket";
		argv[n++] = word = procctl_shell_word(socket);
	}
	argv[n] = NULL;
	conn = conn_spawn((char *const *)argv);
	error = errno;
	free(word);
	free(user);
	free(host);
	free(socket);
	errno = error;
	return (conn);
}

/*
 * A new connection to procd, here or (-H) through ssh; NULL with errno
 * set, EPERM with *peer when the daemon here runs as another user.
 */
struct conn *
procctl_open(struct procctl *ctl, uid_t *peer)
{
	if (ctl->args.host != NULL)
		return (procctl_ssh(ctl));
	return (conn_open(ctl->socket, peer, 0));
}

int
procctl_connect(struct procctl *ctl)
{
	uid_t	peer;
	int	error;

	if (ctl->conn != NULL)
		return (0);
	/* Over ssh, messages name the host (and socket) as given. */
	if (ctl->socket == NULL && ctl->args.host != NULL)
		ctl->socket = xstrdup(ctl->args.host);
	if (ctl->socket == NULL &&
	    (ctl->socket = proto_socket_path(ctl->args.socket)) == NULL) {
		fprintf(stderr, "procctl: cannot resolve the socket path\n");
		return (-1);
	}
	if ((ctl->conn = procctl_open(ctl, &peer)) == NULL) {
		error = errno;
		if (ctl->args.host != NULL) {
			fprintf(stderr, "procctl: cannot run %s to reach %s: "
			    "%s\n", procctl_ssh_program(), ctl->args.host,
			    strerror(error));
			return (-1);
		}
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

/*
 * Reports the end of a connection through ssh: by then ssh has ended (or
 * is ended), and its status says what went wrong where ssh or the remote
 * shell have not already said it.
 */
static void
procctl_ssh_lost(struct procctl *ctl)
{
	const char	*hint = "";
	char		 how[64];
	int		 status;

	status = conn_child_status(ctl->conn);
	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    ctl->conn->heard) {
		fprintf(stderr, "procctl: procd closed the connection (%s)\n",
		    ctl->args.host);
		return;
	}
	if (status == -1)
		snprintf(how, sizeof how, "ssh ended");
	else if (WIFSIGNALED(status))
		snprintf(how, sizeof how, "ssh was killed by signal %d",
		    WTERMSIG(status));
	else {
		snprintf(how, sizeof how, "ssh exited with status %d",
		    WEXITSTATUS(status));
		if (WEXITSTATUS(status) == 255)
			hint = " (ssh could not connect or log in)";
		else if (WEXITSTATUS(status) == 127)
			hint = " (is procctl installed there, on the PATH of "
			    "the remote user's shell?)";
	}
	if (!ctl->conn->heard)
		fprintf(stderr, "procctl: no answer from procd on %s: %s%s\n",
		    ctl->args.host, how, hint);
	else
		fprintf(stderr, "procctl: connection to procd on %s lost: "
		    "%s%s\n", ctl->args.host, how, hint);
}

/* Reports that the connection failed or that procd closed it. */
void
procctl_lost(struct procctl *ctl)
{
	if (ctl->args.host != NULL && ctl->conn != NULL)
		procctl_ssh_lost(ctl);
	else if (errno != 0)
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
