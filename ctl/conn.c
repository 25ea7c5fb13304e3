/* SPDX-License-Identifier: ISC */
/*
 * procctl's connection to procd: a blocking Unix socket (procd's, or one
 * end of a socketpair whose other end is ssh's stdin and stdout, for -H),
 * requests with integer ids, and a reader that takes lines of any length,
 * matches responses by id whatever their order and hands notifications on.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/* procd's answers are not limited here: a long list is still an answer. */
#define CONN_MAX_LINE	(SIZE_MAX / 4)
#define CONN_READ_SIZE	65536
/* How long ssh is given to end by itself, then to obey SIGTERM (ms). */
#define CONN_CHILD_GRACE 5000

static struct conn *
conn_new(int fd)
{
	struct conn	*conn;

	conn = xcalloc(1, sizeof *conn);
	conn->fd = fd;
	conn->sigfd = -1;
	conn->child = -1;
	conn->child_status = -1;
	conn->next_id = 1;
	conn->stash = json_array();
	return (conn);
}

/*
 * Returns a connection, or NULL with errno set: EPERM, with *peer set,
 * when the daemon there is neither root nor this user. With nowait, a
 * daemon that does not accept is EAGAIN at once (see proto_connect).
 */
struct conn *
conn_open(const char *path, uid_t *peer, int nowait)
{
	int	fd, error;

	if ((fd = proto_connect(path, nowait)) == -1)
		return (NULL);
	if (proto_peer_trusted(fd, peer) == -1) {
		error = errno;
		close(fd);
		errno = error;
		return (NULL);
	}
	return (conn_new(fd));
}

/*
 * The child of conn_spawn, from fork to exec: fd becomes its stdin and
 * stdout; stderr stays procctl's, for ssh's prompts and errors. An exec
 * failure's errno goes back through errfd.
 */
static void __attribute__((noreturn))
conn_spawn_child(int fd, int errfd, pid_t parent, char *const *argv)
{
	struct sigaction	sa;
	sigset_t		set;
	int			error;

	/* However procctl ends, ssh does not carry on without it. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
		_exit(127);
	/*
	 * An interrupt is procctl's to act on (run terminates its job and
	 * goes on showing its output): ssh, in the same process group, must
	 * not drop the connection under it. procctl's signal mask, which
	 * holds back SIGINT and SIGTERM for its signalfd, is not ssh's.
	 */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigemptyset(&set);
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigprocmask(SIG_SETMASK, &set, NULL) == -1)
		_exit(127);
	/* Out of the way of stdin and stdout first, in case either is one. */
	if ((fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) == -1 ||
	    (errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 3)) == -1)
		_exit(127);
	if (dup2(fd, STDIN_FILENO) != -1 && dup2(fd, STDOUT_FILENO) != -1)
		execvp(argv[0], argv);
	error = errno;
	if (write(errfd, &error, sizeof error) == -1)
		_exit(127);
	_exit(127);
}

/* Closes both fds of a pair, keeping errno. */
static void
conn_close_pair(int *fds)
{
	int	error = errno;

	close(fds[0]);
	close(fds[1]);
	errno = error;
}

/*
 * A connection through a program (ssh, for -H) whose stdin and stdout are
 * the other end of a socketpair, so that the rest of procctl talks over it
 * as over procd's own socket. Returns NULL with errno set when the
 * program cannot be run.
 */
struct conn *
conn_spawn(char *const *argv)
{
	struct conn	*conn;
	pid_t		 pid, parent = getpid();
	ssize_t		 n;
	int		 sv[2], ep[2], error;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return (NULL);
	if (pipe2(ep, O_CLOEXEC) == -1) {
		conn_close_pair(sv);
		return (NULL);
	}
	if ((pid = fork()) == -1) {
		conn_close_pair(sv);
		conn_close_pair(ep);
		return (NULL);
	}
	if (pid == 0)
		conn_spawn_child(sv[1], ep[1], parent, argv);
	close(sv[1]);
	close(ep[1]);
	/* exec closes the pipe; only a failure writes to it first. */
	while ((n = read(ep[0], &error, sizeof error)) == -1 && errno == EINTR)
		;
	close(ep[0]);
	conn = conn_new(sv[0]);
	conn->child = pid;
	if (n == sizeof error) {
		conn_free(conn);
		errno = error;
		return (NULL);
	}
	return (conn);
}

/* Collects the child if it exits within ms; 1 if it is gone. */
static int
conn_child_exited(struct conn *conn, int ms)
{
	struct pollfd	pfd;
	pid_t		r;

	r = waitpid(conn->child, &conn->child_status, WNOHANG);
	if (r == 0 && ms > 0 &&
	    (pfd.fd = pidfd_open(conn->child, 0)) != -1) {
		pfd.events = POLLIN;
		while (poll(&pfd, 1, ms) == -1 && errno == EINTR)
			;
		close(pfd.fd);
		r = waitpid(conn->child, &conn->child_status, WNOHANG);
	}
	if (r == 0)
		return (0);
	if (r == -1)
		conn->child_status = -1;
	conn->child = -1;
	return (1);
}

/*
 * Ends and collects the child carrying conn. Given grace, ssh ends by
 * itself once procd, seeing the end of the requests, has closed its side;
 * otherwise, or when that takes too long, SIGTERM (then SIGKILL) closes
 * the connection at once, and with it procd drops what is pending, as
 * for a local client that closes its socket.
 */
static void
conn_child_end(struct conn *conn, int grace)
{
	if (conn->child == -1 || conn_child_exited(conn, grace))
		return;
	kill(conn->child, SIGTERM);
	if (conn_child_exited(conn, CONN_CHILD_GRACE))
		return;
	kill(conn->child, SIGKILL);
	while (waitpid(conn->child, &conn->child_status, 0) == -1 &&
	    errno == EINTR)
		;
	conn->child = -1;
}

/*
 * The wait status of the program carrying a connection that has ended
 * (collected now if need be), or -1 when there is none or it is unknown.
 */
int
conn_child_status(struct conn *conn)
{
	if (conn->child != -1) {
		shutdown(conn->fd, SHUT_WR);
		conn_child_end(conn, CONN_CHILD_GRACE);
	}
	return (conn->child_status);
}

void
conn_free(struct conn *conn)
{
	if (conn == NULL)
		return;
	close(conn->fd);
	/* With nothing pending, a close ends the conversation cleanly. */
	conn_child_end(conn, conn->pending == 0 ? CONN_CHILD_GRACE : 0);
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
	conn->pending++;
	return (n);
}

/* Counts a response come in (see conn_free). */
static void
conn_answered(struct conn *conn)
{
	if (conn->pending > 0)
		conn->pending--;
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

/* Adds an fd for waits to watch (see struct conn_watch); 0 or -1. */
int
conn_watch(struct conn *conn, int fd, int (*fn)(int, void *), void *arg)
{
	struct conn_watch	*w;

	if (conn->nwatch == CONN_WATCH_MAX) {
		errno = ENOSPC;
		return (-1);
	}
	w = &conn->watch[conn->nwatch++];
	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	return (0);
}

/* Runs the watches whose fd is ready; 1 if one of them ends the wait. */
static int
conn_watched(struct conn *conn, const struct pollfd *pfd)
{
	struct conn_watch	*w;
	int			 i, end = 0;

	for (i = 0; i < conn->nwatch; i++) {
		w = &conn->watch[i];
		if (pfd[i].revents != 0 && w->fn(w->fd, w->arg) != 0)
			end = 1;
	}
	return (end);
}

/*
 * Reads more input. Returns 1 when something was read, 0 when a signal
 * came through sigfd first, CONN_WATCHED when a watch ended the wait, -1
 * at end of file (errno 0) or on error.
 */
static int
conn_fill(struct conn *conn)
{
	struct pollfd			pfd[2 + CONN_WATCH_MAX];
	struct signalfd_siginfo		si;
	nfds_t				nfds = 1, sig = 0, watch, i;
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
		sig = nfds++;
	}
	watch = nfds;
	for (i = 0; i < (nfds_t)conn->nwatch; i++) {
		pfd[nfds].fd = conn->watch[i].fd;
		pfd[nfds++].events = POLLIN;
	}
	for (;;) {
		for (i = 0; i < nfds; i++)
			pfd[i].revents = 0;
		if (poll(pfd, nfds, -1) == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		/* Signals first, so a chatty job cannot hold off an interrupt. */
		if (sig != 0 && pfd[sig].revents != 0) {
			if (read(conn->sigfd, &si, sizeof si) == sizeof si)
				return (0);
			continue;
		}
		/* And keys before a busy stream of events. */
		if (conn_watched(conn, pfd + watch))
			return (CONN_WATCHED);
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
	conn->heard = 1;
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
	if (json_is_integer(json_object_get(msg, "id"))) {
		conn_answered(conn);
		json_array_append_new(conn->stash, msg);
	} else
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
 * 1 with *reply, 0 when interrupted by a signal on sigfd, CONN_WATCHED
 * when a watch ended the wait, -1 when the connection ended (errno 0) or
 * failed.
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
				conn_answered(conn);
				*reply = msg;
				return (1);
			}
			conn_dispatch(conn, msg);
		}
		if ((r = conn_fill(conn)) != 1)
			return (r);
	}
}
