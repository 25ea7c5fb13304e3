/* SPDX-License-Identifier: ISC */
/*
 * procbench's connections: a non-blocking Unix socket with an input and an
 * output buffer. Lines are framed with proto_frame_next, set-up calls are
 * built with proto/'s envelopes, and the hot loops read a response's id
 * straight from the line, since procd always writes "jsonrpc" then "id".
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define CONN_READ_ROOM		(256 * 1024)
#define CONN_MAX_LINE		(SIZE_MAX / 4)
#define CONN_TIMEOUT_MS		60000
/* conn_call's ids, above those of any figure. */
#define CONN_CALL_ID		(1LL << 40)
#define CONN_PREFIX		"{\"jsonrpc\":\"2.0\",\"id\":"
#define CONN_NOTIFICATION	"{\"jsonrpc\":\"2.0\",\"method\":"

/* Returns a connection, or NULL with errno set. */
struct conn *
conn_open(const char *path)
{
	struct conn	*c;
	int		 fd, saved;

	if ((fd = proto_connect(path, 0)) == -1)
		return (NULL);
	if (fcntl(fd, F_SETFL, O_NONBLOCK) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (NULL);
	}
	c = bench_xcalloc(1, sizeof *c);
	c->fd = fd;
	c->next_id = CONN_CALL_ID;
	return (c);
}

void
conn_close(struct conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void
conn_out_room(struct conn *c, size_t need)
{
	if (c->outsize - c->outlen >= need)
		return;
	if (c->outoff > 0) {
		memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
		c->outlen -= c->outoff;
		c->outoff = 0;
	}
	if (c->outsize - c->outlen >= need)
		return;
	while (c->outsize - c->outlen < need)
		c->outsize = c->outsize == 0 ? 65536 : c->outsize * 2;
	c->out = bench_xrealloc(c->out, c->outsize);
}

void
conn_queue(struct conn *c, const char *data, size_t len)
{
	conn_out_room(c, len);
	memcpy(c->out + c->outlen, data, len);
	c->outlen += len;
}

void
conn_queuef(struct conn *c, const char *fmt, ...)
{
	va_list	ap;
	int	n;

	conn_out_room(c, 512);
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->outlen, c->outsize - c->outlen, fmt, ap);
	va_end(ap);
	if (n < 0)
		bench_fatalx("vsnprintf failed");
	if ((size_t)n >= c->outsize - c->outlen) {
		conn_out_room(c, n + 1);
		va_start(ap, fmt);
		vsnprintf(c->out + c->outlen, c->outsize - c->outlen, fmt, ap);
		va_end(ap);
	}
	c->outlen += n;
}

/* Sends what it can without blocking. Returns 0, or -1 on error. */
int
conn_flush(struct conn *c)
{
	ssize_t	n;

	while (c->outoff < c->outlen) {
		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return (0);
			return (-1);
		}
		c->outoff += n;
	}
	c->outoff = c->outlen = 0;
	return (0);
}

/* Reads once. Returns 1 if bytes came, 0 if none yet, -1 at EOF/error. */
int
conn_fill(struct conn *c)
{
	ssize_t	n;

	if (c->inoff > 0) {
		memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
		c->inlen -= c->inoff;
		c->inscan -= c->inoff;
		c->inoff = 0;
	}
	if (c->insize - c->inlen < CONN_READ_ROOM) {
		c->insize = c->insize < CONN_READ_ROOM ? 2 * CONN_READ_ROOM :
		    c->insize * 2;
		c->in = bench_xrealloc(c->in, c->insize);
	}
	for (;;) {
		n = recv(c->fd, c->in + c->inlen, c->insize - c->inlen,
		    MSG_DONTWAIT);
		if (n > 0) {
			c->inlen += n;
			return (1);
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return (0);
		return (-1);
	}
}

/*
 * The next complete line in the input, without "\r\n"; valid until the
 * next conn_fill. Returns 1, or 0 when no whole line is buffered.
 */
int
conn_line(struct conn *c, const char **line, size_t *len)
{
	const char	*start = c->in + c->inoff, *nl;
	size_t		 used;

	if (c->inscan < c->inoff)
		c->inscan = c->inoff;
	nl = memchr(c->in + c->inscan, '\n', c->inlen - c->inscan);
	if (nl == NULL) {
		c->inscan = c->inlen;
		return (0);
	}
	if (proto_frame_next(start, nl + 1 - start, CONN_MAX_LINE, len,
	    &used) != 1)
		bench_fatalx("bad framing from procd");
	*line = start;
	c->inoff += used;
	c->inscan = c->inoff;
	return (1);
}

/* Waits for one conn to be readable (flushing it meanwhile) and reads. */
int
conn_wait(struct conn *c, int timeout_ms)
{
	struct pollfd	pfd;
	int		n;

	pfd.fd = c->fd;
	pfd.events = POLLIN | (c->outlen > c->outoff ? POLLOUT : 0);
	if ((n = poll(&pfd, 1, timeout_ms)) <= 0)
		return (n == 0 || errno == EINTR ? 0 : -1);
	if ((pfd.revents & POLLOUT) && conn_flush(c) == -1)
		return (-1);
	if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
		return (conn_fill(c) == -1 ? -1 : 1);
	return (1);
}

/* The next line, waiting for it. Returns 1, or -1 on EOF or timeout. */
int
conn_next_line(struct conn *c, const char **line, size_t *len)
{
	long long	deadline = stats_now() + CONN_TIMEOUT_MS * 1000000LL;

	if (conn_flush(c) == -1)
		return (-1);
	while (conn_line(c, line, len) == 0) {
		if (stats_now() > deadline || conn_wait(c, 1000) == -1)
			return (-1);
	}
	return (1);
}

static long long
conn_reply_id_slow(const char *line, size_t len, int *kind)
{
	json_t		*msg, *id;
	long long	 n = -1;

	*kind = 0;
	if ((msg = json_loadb(line, len, 0, NULL)) == NULL)
		return (-1);
	id = json_object_get(msg, "id");
	if (json_is_integer(id)) {
		n = json_integer_value(id);
		*kind = json_object_get(msg, "error") != NULL ? CONN_ERROR :
		    CONN_RESULT;
	}
	json_decref(msg);
	return (n);
}

/*
 * The integer id of a response and whether it is a result or an error
 * (*kind); -1 for anything else, such as a notification.
 */
long long
conn_reply_id(const char *line, size_t len, int *kind)
{
	const size_t	 plen = sizeof CONN_PREFIX - 1;
	const size_t	 nlen = sizeof CONN_NOTIFICATION - 1;
	const char	*p, *end = line + len;
	long long	 n = 0;

	*kind = 0;
	if (len >= nlen && memcmp(line, CONN_NOTIFICATION, nlen) == 0)
		return (-1);
	if (len < plen || memcmp(line, CONN_PREFIX, plen) != 0)
		return (conn_reply_id_slow(line, len, kind));
	for (p = line + plen; p < end && *p >= '0' && *p <= '9'; p++)
		n = n * 10 + (*p - '0');
	if (p == line + plen)
		return (conn_reply_id_slow(line, len, kind));
	if (end - p > 10 && memcmp(p, ",\"result\":", 10) == 0)
		*kind = CONN_RESULT;
	else if (end - p > 9 && memcmp(p, ",\"error\":", 9) == 0)
		*kind = CONN_ERROR;
	else
		return (conn_reply_id_slow(line, len, kind));
	return (n);
}

/*
 * A blocking call for set-up work: sends method with params (stolen) and
 * returns the result (the caller's reference), or NULL after printing the
 * error. Other lines that arrive meanwhile are dropped.
 */
json_t *
conn_call(struct conn *c, const char *method, json_t *params)
{
	json_t		*id, *msg, *result = NULL, *error;
	const char	*line;
	char		*text;
	size_t		 len;
	long long	 want = c->next_id++;

	id = json_integer(want);
	msg = proto_request_new(method, params, id);
	json_decref(id);
	if (msg == NULL || (text = proto_encode(msg, &len)) == NULL)
		bench_fatalx("cannot encode a %s request", method);
	json_decref(msg);
	conn_queue(c, text, len);
	free(text);
	for (;;) {
		if (conn_next_line(c, &line, &len) == -1) {
			fprintf(stderr, "procbench: %s: no answer\n", method);
			return (NULL);
		}
		if ((msg = json_loadb(line, len, 0, NULL)) == NULL)
			continue;
		id = json_object_get(msg, "id");
		if (json_is_integer(id) && json_integer_value(id) == want)
			break;
		json_decref(msg);
	}
	if ((error = json_object_get(msg, "error")) != NULL) {
		text = json_dumps(error, JSON_COMPACT);
		fprintf(stderr, "procbench: %s: %s\n", method, text);
		free(text);
	} else
		result = json_incref(json_object_get(msg, "result"));
	json_decref(msg);
	return (result);
}

/*
 * Polls n connections once: flushes the writable ones and reads the
 * readable ones. Returns 0, or -1 if one of them failed or closed.
 */
int
conn_poll(struct conn **cs, int n, int timeout_ms)
{
	static struct pollfd	*pfds;
	static int		 npfds;
	int			 i;

	if (n > npfds) {
		pfds = bench_xrealloc(pfds, n * sizeof *pfds);
		npfds = n;
	}
	for (i = 0; i < n; i++) {
		pfds[i].fd = cs[i]->fd;
		pfds[i].events = POLLIN |
		    (cs[i]->outlen > cs[i]->outoff ? POLLOUT : 0);
	}
	if (poll(pfds, n, timeout_ms) == -1)
		return (errno == EINTR ? 0 : -1);
	for (i = 0; i < n; i++) {
		if ((pfds[i].revents & POLLOUT) && conn_flush(cs[i]) == -1)
			return (-1);
		if ((pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    conn_fill(cs[i]) == -1)
			return (-1);
	}
	return (0);
}
