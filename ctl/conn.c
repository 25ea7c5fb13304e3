/* SPDX-License-Identifier: ISC */
/*
 * procctl's connection to procd: a blocking Unix socket, requests with
 * integer ids, and a reader that takes lines of any length, matches
 * responses by id whatever their order and hands notifications on.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/* procd's answers are not limited here: a long list is still an answer. */
#define CONN_MAX_LINE	(SIZE_MAX / 4)
#define CONN_READ_SIZE	65536

/*
 * Returns a connection, or NULL with errno set: EPERM, with *peer set,
 * when the daemon there is neither root nor this user.
 */
struct conn *
conn_open(const char *path, uid_t *peer)
{
	struct conn	*conn;
	int		 fd, error;

	if ((fd = proto_connect(path)) == -1)
		return (NULL);
	if (proto_peer_trusted(fd, peer) == -1) {
		error = errno;
		close(fd);
		errno = error;
		return (NULL);
	}
	conn = xcalloc(1, sizeof *conn);
	conn->fd = fd;
	conn->sigfd = -1;
	conn->next_id = 1;
	conn->stash = json_array();
	return (conn);
}

void
conn_free(struct conn *conn)
{
	if (conn == NULL)
		return;
	close(conn->fd);
	free(conn->out);
	json_decref(conn->stash);
	free(conn->buf);
	free(conn);
}

static int
conn_write(int fd, const char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = send(fd, data, len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		data += n;
		len -= n;
	}
	return (0);
}

/* Sends a request, stealing params; returns its id, or -1 with errno. */
json_int_t
conn_send(struct conn *conn, const char *method, json_t *params)
{
	json_t		*id, *msg;
	json_int_t	 n;
	char		*line;
	size_t		 len;

	n = conn->next_id++;
	id = json_integer(n);
	msg = proto_request_new(method, params, id);
	json_decref(id);
	if (msg == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	line = proto_encode(msg, &len);
	json_decref(msg);
	if (line == NULL) {
		errno = ENOMEM;
		return (-1);
	}
	if (conn->corked) {
		conn->out = xrealloc(conn->out, conn->outlen + len);
		memcpy(conn->out + conn->outlen, line, len);
		conn->outlen += len;
	} else if (conn_write(conn->fd, line, len) == -1) {
		free(line);
		return (-1);
	}
	free(line);
	return (n);
}

/* Holds requests back, to send them in one write (see commands_run). */
void
conn_cork(struct conn *conn)
{
	conn->corked = 1;
}

/* Sends the requests held back; 0 or -1 with errno. */
int
conn_uncork(struct conn *conn)
{
	int	r;

	conn->corked = 0;
	r = conn_write(conn->fd, conn->out, conn->outlen);
	free(conn->out);
	conn->out = NULL;
	conn->outlen = 0;
	return (r);
}

/* Makes room for one more read, moving unread input to the front. */
static void
conn_make_room(struct conn *conn)
{
	if (conn->off > 0) {
		memmove(conn->buf, conn->buf + conn->off,
		    conn->len - conn->off);
		conn->len -= conn->off;
		conn->off = 0;
	}
	if (conn->size - conn->len < CONN_READ_SIZE / 2) {
		/* Doubling keeps a very long line from costing many reads. */
		conn->size = conn->size == 0 ? CONN_READ_SIZE :
		    conn->size * 2;
		conn->buf = xrealloc(conn->buf, conn->size);
	}
}

/*
 * Reads more input. Returns 1 when something was read, 0 when a signal
 * came through sigfd first, -1 at end of file (errno 0) or on error.
 */
static int
conn_fill(struct conn *conn)
{
	struct pollfd			pfd[2];
	struct signalfd_siginfo		si;
	nfds_t				nfds = 1;
	ssize_t				n;

	if (conn->eof) {
		errno = 0;
		return (-1);
	}
	conn_make_room(conn);

	pfd[0].fd = conn->fd;
	pfd[0].events = POLLIN;
	if (conn->sigfd != -1) {
		pfd[1].fd = conn->sigfd;
		pfd[1].events = POLLIN;
		nfds = 2;
	}
	for (;;) {
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, nfds, -1) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		/* Signals first, so a chatty job cannot hold off an interrupt. */
		if (nfds == 2 && pfd[1].revents != 0) {
			if (read(conn->sigfd, &si, sizeof si) == sizeof si)
				return (0);
			continue;
		}
		if (pfd[0].revents != 0)
			break;
	}

	n = read(conn->fd, conn->buf + conn->len, conn->size - conn->len);
	if (n == -1) {
		if (errno == EINTR || errno == EAGAIN)
			return (1);
		return (-1);
	}
	if (n == 0) {
		conn->eof = 1;
		/* The last line may lack its "\n"; let conn_next have it. */
		if (conn->len > conn->off)
			return (1);
		errno = 0;
		return (-1);
	}
	conn->len += n;
	return (1);
}

/* Takes the next complete message from the input; 0 if there is none. */
static int
conn_next(struct conn *conn, json_t **msg)
{
	json_error_t	 error;
	const char	*line;
	size_t		 linelen, used, left;
	int		 r;

	for (;;) {
		left = conn->len - conn->off;
		if (left == 0)
			return (0);
		line = conn->buf + conn->off;
		r = proto_frame_next(line, left, CONN_MAX_LINE, &linelen,
		    &used);
		if (r != 1) {
			if (!conn->eof)
				return (0);
			linelen = used = left;
		}
		conn->off += used;
		if (linelen == 0)
			continue;

		/* A line that is not JSON is skipped; there is nothing to do. */
		*msg = json_loadb(line, linelen,
		    JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
		if (*msg != NULL)
			return (1);
	}
}

/* True if msg is the response to id, or an error procd could not place. */
static int
conn_is_reply(const json_t *msg, json_int_t id)
{
	json_t	*mid;

	if (!json_is_object(msg) || json_object_get(msg, "method") != NULL)
		return (0);
	mid = json_object_get(msg, "id");
	if (json_is_integer(mid))
		return (json_integer_value(mid) == id);
	return (id > 0 && json_is_null(mid) &&
	    json_object_get(msg, "error") != NULL);
}

/* Passes a notification on, or keeps a response for later; steals msg. */
static void
conn_dispatch(struct conn *conn, json_t *msg)
{
	json_t	*method, *v;
	size_t	 i;

	if (json_is_array(msg)) {
		json_array_foreach(msg, i, v)
			conn_dispatch(conn, json_incref(v));
		json_decref(msg);
		return;
	}
	if (!json_is_object(msg)) {
		json_decref(msg);
		return;
	}
	method = json_object_get(msg, "method");
	if (json_is_string(method)) {
		if (json_object_get(msg, "id") == NULL && conn->notify != NULL)
			conn->notify(json_string_value(method),
			    json_object_get(msg, "params"), conn->notify_arg);
		json_decref(msg);
		return;
	}
	if (json_is_integer(json_object_get(msg, "id")))
		json_array_append_new(conn->stash, msg);
	else
		json_decref(msg);
}

static json_t *
conn_unstash(struct conn *conn, json_int_t id)
{
	json_t	*msg;
	size_t	 i;

	json_array_foreach(conn->stash, i, msg) {
		if (conn_is_reply(msg, id)) {
			json_incref(msg);
			json_array_remove(conn->stash, i);
			return (msg);
		}
	}
	return (NULL);
}

/* 1 if the response to id has arrived and is kept for later. */
int
conn_stashed(struct conn *conn, json_int_t id)
{
	json_t	*msg;
	size_t	 i;

	json_array_foreach(conn->stash, i, msg) {
		if (conn_is_reply(msg, id))
			return (1);
	}
	return (0);
}

/*
 * Waits for the response to id (0: for none, only notifications). Returns
 * 1 with *reply, 0 when interrupted by a signal on sigfd, -1 when the
 * connection ended (errno 0) or failed.
 */
int
conn_wait(struct conn *conn, json_int_t id, json_t **reply)
{
	json_t	*msg;
	int	 r;

	*reply = NULL;
	if (id > 0 && (msg = conn_unstash(conn, id)) != NULL) {
		*reply = msg;
		return (1);
	}
	for (;;) {
		while (conn_next(conn, &msg)) {
			if (id > 0 && conn_is_reply(msg, id)) {
				*reply = msg;
				return (1);
			}
			conn_dispatch(conn, msg);
		}
		if ((r = conn_fill(conn)) != 1)
			return (r);
	}
}
