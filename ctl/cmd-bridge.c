/* SPDX-License-Identifier: ISC */
/*
 * procctl bridge: relay bytes, unread and unchanged, between stdin and
 * stdout and procd's socket. procctl -H runs it on the other host through
 * ssh; procd does all the checking of what passes, and the connection is
 * checked (who answers) as any other procctl makes.
 */

#include "config.h"

#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

/* What one direction holds at most; it reads no more while it is full. */
#define CMD_BRIDGE_BUF	65536

static int	cmd_bridge_exec(struct procctl *);

const struct procctl_command cmd_bridge_entry = {
	"bridge",
	"",
	"Connect to procd's socket and relay bytes between it and stdin and\n"
	"stdout until both directions end: stdin's end is passed on, and\n"
	"procd's remaining answers still come. This is what procctl --host\n"
	"runs on the other host through ssh; it takes --socket, not --host.\n",
	OPT(OPT_SOCKET) | OPT(OPT_HELP), "", 0, 0,
	cmd_bridge_exec
};

/* One direction of the relay: bytes read from in, waiting for out. */
struct cmd_bridge_way {
	int	in;
	int	out;
	int	in_sock;	/* in is a socket: reads need not block */
	int	out_sock;	/* out is a socket: sends need not block */
	int	in_eof;		/* nothing more will be read from in */
	int	out_done;	/* out takes nothing more */
	size_t	off;		/* start of what out has not taken */
	size_t	len;		/* end of what was read */
	char	buf[CMD_BRIDGE_BUF];
};

static int
cmd_bridge_is_socket(int fd)
{
	int		type;
	socklen_t	len = sizeof type;

	return (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0);
}

static void
cmd_bridge_init(struct cmd_bridge_way *w, int in, int out)
{
	memset(w, 0, sizeof *w);
	w->in = in;
	w->out = out;
	w->in_sock = cmd_bridge_is_socket(in);
	w->out_sock = cmd_bridge_is_socket(out);
}

static int
cmd_bridge_has_data(const struct cmd_bridge_way *w)
{
	return (w->off < w->len);
}

/* The room left for reading, after moving what is left to the front. */
static size_t
cmd_bridge_room(struct cmd_bridge_way *w)
{
	if (w->off == w->len)
		w->off = w->len = 0;
	else if (w->len == sizeof w->buf && w->off > 0) {
		memmove(w->buf, w->buf + w->off, w->len - w->off);
		w->len -= w->off;
		w->off = 0;
	}
	return (sizeof w->buf - w->len);
}

/* Reads what in has ready; an error ends in as its end of file would. */
static void
cmd_bridge_read(struct cmd_bridge_way *w)
{
	ssize_t	n;

	/* A hang-up can wake poll while a socket has nothing to read. */
	if (w->in_sock)
		n = recv(w->in, w->buf + w->len, cmd_bridge_room(w),
		    MSG_DONTWAIT);
	else
		n = read(w->in, w->buf + w->len, cmd_bridge_room(w));
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (n == -1 && errno != ECONNRESET)
			fprintf(stderr, "procctl: bridge: read: %s\n",
			    strerror(errno));
		w->in_eof = 1;
		return;
	}
	w->len += n;
}

/*
 * Writes what out takes without blocking: a socket is sent to with
 * MSG_DONTWAIT; a pipe that polled writable takes PIPE_BUF bytes at once.
 * Returns 0, or -1 with errno when out takes nothing more.
 */
static int
cmd_bridge_write(struct cmd_bridge_way *w)
{
	size_t	len = w->len - w->off;
	ssize_t	n;

	if (w->out_sock)
		n = send(w->out, w->buf + w->off, len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	else
		n = write(w->out, w->buf + w->off, len < PIPE_BUF ? len :
		    PIPE_BUF);
	if (n == -1)
		return (errno == EINTR || errno == EAGAIN ? 0 : -1);
	w->off += n;
	return (0);
}

/*
 * True if pfd is ready for what (POLLIN or POLLOUT), which it asked for;
 * an error or a hang-up is ready too, for the call to find out.
 */
static int
cmd_bridge_ready(const struct pollfd *pfd, short what)
{
	return ((pfd->events & what) &&
	    (pfd->revents & (what | POLLERR | POLLHUP)));
}

/* The reader at the other end of stdout is gone. */
static int
cmd_bridge_gone(int error)
{
	return (error == EPIPE || error == ECONNRESET);
}

/*
 * Relays until procd's side has ended and all of it went out (0), or the
 * reader of stdout went away (0: its pending answers are dropped, as for
 * a local client that closes its connection). 1 on a write error.
 */
static int
cmd_bridge_relay(int sock)
{
	static struct cmd_bridge_way	 up, down;	/* off the stack */
	struct pollfd			 pfd[3];

	cmd_bridge_init(&up, STDIN_FILENO, sock);
	cmd_bridge_init(&down, sock, STDOUT_FILENO);
	for (;;) {
		/* stdin has ended and procd has it all: tell procd. */
		if (up.in_eof && !cmd_bridge_has_data(&up) && !up.out_done) {
			shutdown(sock, SHUT_WR);
			up.out_done = 1;
		}
		if (down.in_eof && !cmd_bridge_has_data(&down))
			return (PROCCTL_EXIT_OK);

		/*
		 * A side is left out while there is nothing to do with it,
		 * so that a hang-up it reports cannot spin the loop.
		 */
		memset(pfd, 0, sizeof pfd);
		if (!up.in_eof && cmd_bridge_room(&up) > 0)
			pfd[0].events = POLLIN;
		if (!down.in_eof && cmd_bridge_room(&down) > 0)
			pfd[1].events = POLLIN;
		if (cmd_bridge_has_data(&up))
			pfd[1].events |= POLLOUT;
		if (cmd_bridge_has_data(&down))
			pfd[2].events = POLLOUT;
		pfd[0].fd = pfd[0].events != 0 ? STDIN_FILENO : -1;
		pfd[1].fd = pfd[1].events != 0 ? sock : -1;
		/* Always watched: its hang-up says the reader has left. */
		pfd[2].fd = STDOUT_FILENO;
		if (poll(pfd, 3, -1) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "procctl: bridge: poll: %s\n",
			    strerror(errno));
			return (PROCCTL_EXIT_ERROR);
		}

		if (pfd[0].revents != 0)
			cmd_bridge_read(&up);
		if (cmd_bridge_ready(&pfd[1], POLLIN))
			cmd_bridge_read(&down);
		/* procd takes no more: what stdin still sends has no reader. */
		if (cmd_bridge_ready(&pfd[1], POLLOUT) &&
		    cmd_bridge_write(&up) == -1) {
			up.off = up.len = 0;
			up.in_eof = up.out_done = 1;
		}
		if (pfd[2].revents == 0)
			continue;
		if (!cmd_bridge_has_data(&down))
			return (PROCCTL_EXIT_OK);	/* a hang-up */
		if (cmd_bridge_write(&down) == -1) {
			if (cmd_bridge_gone(errno))
				return (PROCCTL_EXIT_OK);
			fprintf(stderr, "procctl: bridge: write: %s\n",
			    strerror(errno));
			return (PROCCTL_EXIT_ERROR);
		}
	}
}

static int
cmd_bridge_exec(struct procctl *ctl)
{
	if (ctl->args.host != NULL)
		return (procctl_usage_error(ctl, "bridge: --host does not "
		    "apply (bridge is what --host runs on the other host)"));
	/* A reader that went away is an end like another, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (procctl_connect(ctl) == -1)
		return (PROCCTL_EXIT_ERROR);
	return (cmd_bridge_relay(ctl->conn->fd));
}
