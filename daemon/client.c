/* SPDX-License-Identifier: ISC */
/*
 * Client connections: line framing on a bufferevent, bounded output, and
 * the connection's end. A client is never freed inside its own callback
 * chain: client_close marks it dead and unlinks it, and a deferred event
 * frees it once the current callbacks have returned.
 */

#include "config.h"

#include <sys/socket.h>

#include <poll.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define CLIENT_READ_CHUNK	(64 * 1024)
#define CLIENT_WRITE_CHUNK	(1024 * 1024)
#define CLIENT_FOLLOW_SNDBUF	(1024 * 1024)	/* see client_following */
#define CLIENT_DISCARD_MAX	(64 * 1024 * 1024)
#define CLIENT_LINGER_SEC	1	/* to drop the rest of a long line */
/*
 * Output lines shorter than this are copied into the client's buffer,
 * where they share chains; longer ones are referenced, not copied. A
 * chain per small line would cost a kilobyte or more each, and a client
 * that reads nothing could then hold ten times its output limit.
 */
#define CLIENT_COPY_MAX		4096
/*
 * How long one client's requests may hold the loop in one turn; the rest
 * of its input (or of its batch) waits for the next turn, after the other
 * clients' events.
 */
#define CLIENT_TURN_NSEC	(5 * 1000 * 1000)
/*
 * Output of a chunk that a client's socket did not take at once is copied
 * into blocks: see client_queue.
 */
#define CLIENT_BLOCK_SIZE	(256 * 1024)
#define CLIENT_BLOCKS_KEPT	8

struct client_block {
	u_int		 refs;		/* its client, and each queued piece */
	size_t		 used;
	char		 data[CLIENT_BLOCK_SIZE];
};

struct clients	 clients = TAILQ_HEAD_INITIALIZER(clients);
u_int		 clients_count;

static u_int		 client_next_id = 1;
static struct timespec	 client_turn_end;
static struct clients	 clients_dead = TAILQ_HEAD_INITIALIZER(clients_dead);
static struct event	*client_reaper;
static struct client_block *client_blocks_kept[CLIENT_BLOCKS_KEPT];
static u_int		 client_nblocks_kept;

static void	client_read(struct bufferevent *, void *);
static void	client_write(struct bufferevent *, void *);
static void	client_event(struct bufferevent *, short, void *);
static void	client_maybe_finish(struct client *);
static void	client_resume(int, short, void *);
static void	client_last_line(struct client *);

/*
 * Reads and drops what the peer sent but procd will not read, so that the
 * close is seen as an end of file and not as a reset.
 */
static void
client_discard_input(int fd)
{
	char	buf[4096];
	int	i;

	for (i = 0; i < 64; i++) {
		if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) <= 0)
			break;
	}
}

static struct client_block *
client_block_new(void)
{
	struct client_block	*b;

	if (client_nblocks_kept > 0)
		b = client_blocks_kept[--client_nblocks_kept];
	else
		b = xmalloc(sizeof *b);
	b->refs = 1;
	b->used = 0;
	return (b);
}

static void
client_block_unref(struct client_block *b)
{
	if (--b->refs > 0)
		return;
	if (client_nblocks_kept < CLIENT_BLOCKS_KEPT)
		client_blocks_kept[client_nblocks_kept++] = b;
	else
		free(b);
}

/* libevent has sent, or dropped, a piece queued from a block. */
static void
client_block_done(const void *data, size_t len, void *arg)
{
	client_block_unref(arg);
}

/* c's block goes back once nothing is queued: idle, c holds none. */
static void
client_block_release(struct client *c)
{
	if (c->block != NULL)
		client_block_unref(c->block);
	c->block = NULL;
}

static void
client_reap(int fd, short events, void *arg)
{
	struct client	*c;

	while ((c = TAILQ_FIRST(&clients_dead)) != NULL) {
		TAILQ_REMOVE(&clients_dead, c, entry);
		client_discard_input(bufferevent_getfd(c->bev));
		client_block_release(c);
		bufferevent_free(c->bev);
		event_free(c->pump);
		event_free(c->resume);
		if (c->linger != NULL)
			event_free(c->linger);
		free(c->groups);
		free(c);
	}
	/* An fd is free again: accepting may resume after EMFILE. */
	listen_resume();
}

static void
client_pump(int fd, short events, void *arg)
{
	feed_pump(arg);
}

/* A client's turn begins: it may hold the loop for CLIENT_TURN_NSEC. */
void
client_turn_begin(void)
{
	time_from_now(CLOCK_MONOTONIC, CLIENT_TURN_NSEC / 1e9,
	    &client_turn_end);
}

/* Has the current client used up its turn? */
int
client_turn_over(void)
{
	return (time_since(CLOCK_MONOTONIC, &client_turn_end) >= 0);
}

/* Leaves the rest of c's input for its next turn. */
/* Whether what c sent waits for a reexec (the new image runs it). */
static int
client_held(const struct client *c)
{
	return (handoff_pending || (c->flags & CLIENT_HOLD));
}

static void
client_yield(struct client *c)
{
	static const struct timeval	now = { 0, 0 };

	c->flags |= CLIENT_BUSY;
	bufferevent_disable(c->bev, EV_READ);
	/* A timer, not event_active: the loop polls the others first. */
	evtimer_add(c->resume, &now);
}

/* Serves a new connection; takes groups (malloc'd, the peer's). */
static struct client *
client_new(int fd, const struct ucred *uc, gid_t *groups, size_t ngroups,
    u_int id)
{
	struct client	*c;

	if (client_reaper == NULL)
		client_reaper = event_new(procd_base, -1, 0, client_reap,
		    NULL);
	c = xcalloc(1, sizeof *c);
	c->id = id;
	c->uid = uc->uid;
	c->gid = uc->gid;
	c->pid = uc->pid;
	c->groups = groups;
	c->ngroups = ngroups;
	c->user = user_get(uc->uid);
	c->user->clients++;
	TAILQ_INIT(&c->requests);
	TAILQ_INIT(&c->subscriptions);
	c->pump = event_new(procd_base, -1, 0, client_pump, c);
	c->resume = evtimer_new(procd_base, client_resume, c);
	c->bev = bufferevent_socket_new(procd_base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
	bufferevent_set_max_single_read(c->bev, CLIENT_READ_CHUNK);
	/* libevent's default (16 KiB a turn) is slower than a worker writes. */
	bufferevent_set_max_single_write(c->bev, CLIENT_WRITE_CHUNK);
	TAILQ_INSERT_TAIL(&clients, c, entry);
	clients_count++;
	return (c);
}

void
client_accept(int fd, const struct ucred *uc, gid_t *groups, size_t ngroups)
{
	struct client	*c;

	c = client_new(fd, uc, groups, ngroups, client_next_id++);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_debug("client %u (uid %u pid %ld): connected", c->id,
	    (unsigned)c->uid, (long)c->pid);
}

void
client_refuse(int fd, int code, const char *message)
{
	json_t	*msg;
	char	*line;
	size_t	 len;

	msg = proto_error_new(NULL, code, message, NULL);
	if (msg != NULL && (line = proto_encode(msg, &len)) != NULL) {
		if (write(fd, line, len) == -1)
			log_debug("refusing client: %s", strerror(errno));
		free(line);
	}
	json_decref(msg);
	shutdown(fd, SHUT_WR);
	client_discard_input(fd);
	close(fd);
}

/*
 * Would len more bytes pass c's output limit? Then c is cut off. What
 * is queued counts, and so do answers still being built (reserved).
 */
int
client_output_over(struct client *c, size_t len)
{
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) +
	    c->reserved + len <= procd_config.max_output)
		return (0);
	log_warnx("client %u (uid %u pid %ld): more than %zu bytes of output "
	    "queued; closing", c->id, (unsigned)c->uid, (long)c->pid,
	    procd_config.max_output);
	client_close(c);
	return (1);
}

static void
client_free_line(const void *line, size_t len, void *arg)
{
	free((void *)line);
}

/* Queues one message (stolen). */
void
client_send(struct client *c, json_t *msg)
{
	char	*line;
	size_t	 len;

	if (c->flags & CLIENT_DEAD) {
		json_decref(msg);
		return;
	}
	line = proto_encode(msg, &len);
	json_decref(msg);
	if (line == NULL)
		fatalx("%s: cannot encode a message", __func__);
	client_send_line(c, line, len, 0);
}

/*
 * Queues one encoded line (malloc'd, stolen). Unless nolimit is set, a
 * client whose queue would pass the output limit is cut off instead.
 */
void
client_send_line(struct client *c, char *line, size_t len, int nolimit)
{
	struct evbuffer	*out;

	if (c->flags & CLIENT_DEAD) {
		free(line);
		return;
	}
	out = bufferevent_get_output(c->bev);
	if (!nolimit && client_output_over(c, len)) {
		free(line);
		return;
	}
	if (len < CLIENT_COPY_MAX) {
		/* Small lines share chains: see CLIENT_COPY_MAX. */
		if (evbuffer_add(out, line, len) == -1)
			client_close(c);
		free(line);
		return;
	}
	if (evbuffer_add_reference(out, line, len, client_free_line,
	    NULL) == -1) {
		free(line);
		client_close(c);
	}
}

/* Moves a whole buffer of output to c, within the output limit. */
void
client_send_buffer(struct client *c, struct evbuffer *buf)
{
	struct evbuffer	*out;
	size_t		 len;

	if (c->flags & CLIENT_DEAD)
		return;
	out = bufferevent_get_output(c->bev);
	len = evbuffer_get_length(buf);
	if (client_output_over(c, len))
		return;
	if (len < CLIENT_COPY_MAX) {
		if (evbuffer_add(out, evbuffer_pullup(buf, -1), len) == -1)
			client_close(c);
		evbuffer_drain(buf, len);
		return;
	}
	evbuffer_add_buffer(out, buf);
}

/*
 * Queues a copy of len bytes on c. Large output (a read's worth of a
 * worker's, for a client that lags) comes and goes in bursts, and memory
 * fresh from the kernel each time costs more in page faults than the
 * copy itself: it is copied into blocks, kept for reuse. c fills one
 * block before it takes the next, and blocks are sent in the order they
 * were filled, so c holds what it has queued and at most two blocks more.
 * Small output shares libevent's chains.
 */
static int
client_queue(struct client *c, const char *data, size_t len)
{
	struct evbuffer		*out = bufferevent_get_output(c->bev);
	struct client_block	*b;
	size_t			 n;

	if (len < CLIENT_COPY_MAX)
		return (evbuffer_add(out, data, len));
	while (len > 0) {
		if ((b = c->block) == NULL || b->used == CLIENT_BLOCK_SIZE) {
			client_block_release(c);
			b = c->block = client_block_new();
		}
		n = CLIENT_BLOCK_SIZE - b->used;
		if (n > len)
			n = len;
		memcpy(b->data + b->used, data, n);
		if (evbuffer_add_reference(out, b->data + b->used, n,
		    client_block_done, b) == -1)
			return (-1);
		b->refs++;
		b->used += n;
		data += n;
		len -= n;
	}
	return (0);
}

/*
 * Sends len bytes (copied) to c, within its output limit. With nothing
 * queued they go straight to the socket, as far as it takes them, and
 * only the rest is queued: output for a client that keeps up is neither
 * copied nor left for the next loop turn. An error is left for the
 * bufferevent to find on its next write.
 */
void
client_send_data(struct client *c, const char *data, size_t len)
{
	ssize_t	n = 0;

	if (c->flags & CLIENT_DEAD)
		return;
	if (client_output_over(c, len))
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
		n = send(bufferevent_getfd(c->bev), data, len,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == -1)
			n = 0;
	}
	if ((size_t)n < len && client_queue(c, data + n, len - n) == -1)
		client_close(c);
}

/*
 * c follows a job's output: a bigger socket send buffer lets one write
 * carry a whole read's worth of notifications. What bounds a follower's
 * rate is the round trip of wake-ups between procd writing and the peer
 * reading, and the default buffer (net.core.wmem_default, often 208 KiB)
 * holds less than one read in base64. The kernel doubles the size asked
 * for and caps it at twice net.core.wmem_max; it is kernel memory, per
 * following client, on top of what the output limit lets procd queue.
 */
void
client_following(struct client *c)
{
	int	size = CLIENT_FOLLOW_SNDBUF;

	if (setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_SNDBUF,
	    &size, sizeof size) == -1)
		log_debug("client %u: SO_SNDBUF: %s", c->id, strerror(errno));
}

static void
client_drop_requests(struct client *c)
{
	struct request	*req;

	while ((req = TAILQ_FIRST(&c->requests)) != NULL)
		request_free(req);
}

/* Marks c dead and unlinks it; it is freed from a deferred event. */
void
client_close(struct client *c)
{
	if (c->flags & CLIENT_DEAD)
		return;
	c->flags |= CLIENT_DEAD;
	request_batch_abandon(c);
	client_drop_requests(c);
	evtimer_del(c->resume);
	feed_client_gone(c);
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	TAILQ_REMOVE(&clients, c, entry);
	clients_count--;
	c->user->clients--;
	user_release(c->user);
	c->user = NULL;
	TAILQ_INSERT_TAIL(&clients_dead, c, entry);
	event_active(client_reaper, EV_TIMEOUT, 0);
	log_debug("client %u: closed", c->id);
}

/*
 * Sends what is queued, then closes: the stream can no longer be trusted.
 * The rest of an oversized line is read and dropped first, so that a
 * client still writing it sees the error rather than a broken pipe.
 */
static void
client_discard_end(struct client *c)
{
	c->flags &= ~CLIENT_DISCARD;
	bufferevent_disable(c->bev, EV_READ);
	if (c->linger != NULL)
		evtimer_del(c->linger);
	client_maybe_finish(c);
}

static void
client_linger_passed(int fd, short events, void *arg)
{
	client_discard_end(arg);
}

/* Drops input up to the end of the oversized line, within bounds. */
static void
client_discard(struct client *c, struct evbuffer *in)
{
	struct evbuffer_ptr	nl;
	size_t			len;

	nl = evbuffer_search(in, "\n", 1, NULL);
	len = evbuffer_get_length(in);
	evbuffer_drain(in, len);
	c->discarded += len;
	if (nl.pos != -1 || c->discarded > CLIENT_DISCARD_MAX)
		client_discard_end(c);
}

static void
client_close_after_flush(struct client *c, int discard)
{
	struct timeval	tv = { CLIENT_LINGER_SEC, 0 };

	c->flags |= CLIENT_CLOSING;
	client_drop_requests(c);
	if (!discard || (c->flags & CLIENT_EOF)) {
		bufferevent_disable(c->bev, EV_READ);
		client_maybe_finish(c);
		return;
	}
	c->flags |= CLIENT_DISCARD;
	if (c->linger == NULL)
		c->linger = evtimer_new(procd_base, client_linger_passed, c);
	evtimer_add(c->linger, &tv);
	client_discard(c, bufferevent_get_input(c->bev));
}

/* A parked request of c was answered or dropped. */
void
client_request_done(struct client *c)
{
	client_maybe_finish(c);
}

static void
client_maybe_finish(struct client *c)
{
	if (c->flags & CLIENT_DEAD)
		return;
	if (!(c->flags & (CLIENT_EOF | CLIENT_CLOSING)) || c->npending != 0 ||
	    (c->flags & (CLIENT_DISCARD | CLIENT_BUSY)) || c->batch != NULL ||
	    client_held(c))
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_close(c);
}

static void
client_too_long(struct client *c)
{
	char	msg[96];

	log_warnx("client %u: request longer than %zu bytes; closing", c->id,
	    procd_config.max_request);
	snprintf(msg, sizeof msg, "request too large (limit %zu bytes)",
	    procd_config.max_request);
	client_send(c, proto_error_new(NULL, PROTO_INVALID_REQUEST, msg,
	    NULL));
	client_close_after_flush(c, 1);
}

static char
client_last_byte(struct evbuffer *in)
{
	struct evbuffer_ptr	p;
	char			ch = '\0';

	if (evbuffer_ptr_set(in, &p, evbuffer_get_length(in) - 1,
	    EVBUFFER_PTR_SET) == 0)
		evbuffer_copyout_from(in, &p, &ch, 1);
	return (ch);
}

static void
client_read_lines_turn(struct client *c, struct evbuffer *in)
{
	struct evbuffer_ptr	 start, nl;
	const char		*data;
	size_t			 len, linelen, used, max;
	u_int			 lines = 0;

	if (c->flags & CLIENT_DISCARD) {
		client_discard(c, in);
		return;
	}
	max = procd_config.max_request;
	if (client_held(c)) {
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	if (c->batch != NULL && request_batch_resume(c)) {
		if (!(c->flags & CLIENT_HOLD))
			client_yield(c);
		return;
	}
	while (!(c->flags & (CLIENT_DEAD | CLIENT_CLOSING))) {
		/* Lines after a reexec are the new image's, in order. */
		if (client_held(c)) {
			bufferevent_disable(c->bev, EV_READ);
			return;
		}
		if (c->batch != NULL || (lines++ > 0 && client_turn_over())) {
			client_yield(c);
			return;
		}
		/* Bytes already searched hold no "\n": do not search again. */
		len = evbuffer_get_length(in);
		if (len == 0 || evbuffer_ptr_set(in, &start, c->scanned,
		    EVBUFFER_PTR_SET) == -1)
			return;
		nl = evbuffer_search(in, "\n", 1, &start);
		if (nl.pos == -1) {
			c->scanned = len;
			/* One "\r" past the limit may yet end the line. */
			if (len > max + 1 ||
			    (len == max + 1 && client_last_byte(in) != '\r'))
				client_too_long(c);
			return;
		}
		c->scanned = 0;
		data = (const char *)evbuffer_pullup(in, nl.pos + 1);
		if (proto_frame_next(data, nl.pos + 1, max, &linelen,
		    &used) != 1) {
			client_too_long(c);
			return;
		}
		if (linelen > 0) {
			spawn_defer_more(evbuffer_get_length(in) > used);
			request_line(c, data, linelen);
		}
		evbuffer_drain(in, used);
	}
}

/*
 * Runs what c sent, for as long as its turn lasts. Spawns handed to
 * spawners meanwhile (spawn.c) are all done before any other client runs.
 */
static void
client_read_lines(struct client *c, struct evbuffer *in)
{
	spawn_defer_begin();
	client_read_lines_turn(c, in);
	spawn_defer_end();
}

/*
 * Writes the answers at once rather than on the next loop turn: a client
 * waiting for one answer gets it sooner, for two fewer epoll calls.
 */
void
client_flush(struct client *c)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	int		 n;

	if (evbuffer_get_length(out) == 0)
		return;
	/* The bufferevent keeps the start of its output frozen. */
	evbuffer_unfreeze(out, 1);
	n = evbuffer_write_atmost(out, bufferevent_getfd(c->bev),
	    CLIENT_WRITE_CHUNK);
	evbuffer_freeze(out, 1);
	if (n == -1 && errno != EAGAIN && errno != EINTR)
		log_debug("client %u: write: %s", c->id, strerror(errno));
	/* The bufferevent calls client_write only after its own writes. */
	if (n > 0 && evbuffer_get_length(out) == 0)
		client_write(c->bev, c);
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	if (c->flags & CLIENT_BUSY)
		return;
	client_turn_begin();
	client_read_lines(c, bufferevent_get_input(bev));
	if (!(c->flags & CLIENT_DEAD))
		client_flush(c);
}

/* c's next turn: the rest of its batch and lines, then reading again. */
static void
client_resume(int fd, short events, void *arg)
{
	struct client	*c = arg;

	c->flags &= ~CLIENT_BUSY;
	client_turn_begin();
	client_read_lines(c, bufferevent_get_input(c->bev));
	if (c->flags & CLIENT_DEAD)
		return;
	if (client_held(c))
		return;
	/* Handed over after its end of file: what follows its last "\n". */
	if ((c->flags & (CLIENT_BUSY | CLIENT_EOF)) == CLIENT_EOF &&
	    c->batch == NULL)
		client_last_line(c);
	if (c->flags & CLIENT_DEAD)
		return;
	if (!(c->flags & (CLIENT_BUSY | CLIENT_EOF | CLIENT_CLOSING)))
		bufferevent_enable(c->bev, EV_READ);
	client_flush(c);
	client_maybe_finish(c);
}

/* Output drained: feed replays, or finish a closing client. */
static void
client_write(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;

	client_block_release(c);
	feed_pump(c);
	client_maybe_finish(c);
}

/*
 * True if the peer has closed its socket, not only shut down its writing
 * side: then both directions are shut and poll says POLLHUP. Reading
 * cannot tell the two apart; both read as end of file.
 */
static int
client_peer_closed(struct client *c)
{
	struct pollfd	pfd;

	pfd.fd = bufferevent_getfd(c->bev);
	pfd.events = POLLIN;
	pfd.revents = 0;
	return (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP));
}

/*
 * The peer shut down its side: a last line without "\n" still counts.
 * A peer that shut down only its writing side gets its pending answers;
 * one that closed reads none, so its pending joins and follows are
 * dropped now rather than held until they end.
 */
/* At end of file, the input left is a last line, "\n" or not. */
static void
client_last_line(struct client *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	const char	*data;
	size_t		 len;

	len = evbuffer_get_length(in);
	if (len > 0 && !(c->flags & CLIENT_CLOSING)) {
		data = (const char *)evbuffer_pullup(in, -1);
		if (data[len - 1] == '\r')
			len--;
		if (len > procd_config.max_request)
			client_too_long(c);
		else if (len > 0)
			request_line(c, data, len);
		evbuffer_drain(in, evbuffer_get_length(in));
	}
}

static void
client_eof(struct client *c)
{
	c->flags |= CLIENT_EOF;
	c->flags &= ~CLIENT_DISCARD;
	bufferevent_disable(c->bev, EV_READ);
	/* Lines that wait for a reexec are the new image's, the last too. */
	if (client_held(c))
		return;
	client_last_line(c);
	if (!(c->flags & CLIENT_DEAD) && client_peer_closed(c)) {
		log_debug("client %u: gone with %u request(s) pending", c->id,
		    c->npending);
		client_close(c);
		return;
	}
	client_maybe_finish(c);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct client	*c = arg;

	if (what & BEV_EVENT_EOF)
		client_eof(c);
	else if (what & BEV_EVENT_ERROR) {
		log_debug("client %u: %s", c->id, strerror(errno));
		client_close(c);
	}
}

/* How many clients still have output queued (for the last flush). */
int
client_flush_all(void)
{
	struct client	*c;
	int		 n = 0;

	TAILQ_FOREACH(c, &clients, entry) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
			n++;
	}
	return (n);
}

/* Frees what is left at exit: clients already closed, and the reaper. */
void
client_free_all(void)
{
	struct client	*c;

	while ((c = TAILQ_FIRST(&clients)) != NULL)
		client_close(c);
	client_reap(-1, 0, NULL);
	if (client_reaper != NULL)
		event_free(client_reaper);
	client_reaper = NULL;
}

/*
 * c sent a reexec: what it sent after it (the rest of its batch, its next
 * lines) waits for the new image, so runs after the switch, in order.
 * It is not read meanwhile: the kernel holds what comes.
 */
void
client_hold(struct client *c)
{
	c->flags |= CLIENT_HOLD;
	bufferevent_disable(c->bev, EV_READ);
}

/*
 * Before a reexec: logs answers being built are finished now, so that
 * what is handed over waits only on the outside world (a job, a timeout,
 * the peer). A batch half run is handed over as it is. Returns 1 if it
 * finished one (which may have closed clients, c too): call again.
 */
int
client_quiesce(struct client *c)
{
	struct request	*req;

	TAILQ_FOREACH(req, &c->requests, client_entry) {
		if (req->reply != NULL) {
			logreply_complete(req);
			return (1);
		}
	}
	return (0);
}

u_int
client_next_id_get(void)
{
	return (client_next_id);
}

void
client_next_id_set(u_int id)
{
	client_next_id = id;
}

/*
 * A handed-over connection, as the previous image left it: identity from
 * the kernel again, then its flags, the input not yet run and the output
 * not yet written.
 */
struct client *
client_adopt(int fd, u_int id, int flags, size_t discarded,
    const void *in, size_t inlen, const void *out, size_t outlen)
{
	struct client	*c;
	struct ucred	 uc;
	gid_t		*groups;
	size_t		 ngroups;

	if (listen_peer(fd, &uc, &groups, &ngroups) == -1) {
		log_warn("handed-over client %u: its credentials", id);
		memset(&uc, 0, sizeof uc);
		uc.uid = (uid_t)-1;
		uc.gid = (gid_t)-1;
	}
	c = client_new(fd, &uc, groups, ngroups, id);
	c->flags = flags;
	c->discarded = discarded;
	/* The bufferevent keeps the end of its input frozen. */
	evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
	if (evbuffer_add(bufferevent_get_input(c->bev), in, inlen) == -1 ||
	    evbuffer_add(bufferevent_get_output(c->bev), out, outlen) == -1)
		fatalx("%s: cannot restore client %u's buffers", __func__, id);
	evbuffer_freeze(bufferevent_get_input(c->bev), 0);
	bufferevent_enable(c->bev, EV_WRITE);
	return (c);
}

/* Once everything is in place: c goes on from where it was. */
void
client_adopted(struct client *c)
{
	struct timeval	tv = { CLIENT_LINGER_SEC, 0 };

	if (c->flags & CLIENT_DISCARD) {
		c->linger = evtimer_new(procd_base, client_linger_passed, c);
		evtimer_add(c->linger, &tv);
	}
	if (c->uid == (uid_t)-1) {
		client_close(c);	/* it could not be told who it is */
		return;
	}
	client_kick(c);		/* its input first, then reading */
	event_active(c->pump, EV_TIMEOUT, 0);
	client_maybe_finish(c);
}

/* A reexec that did not happen: what was held back for it runs now. */
void
client_kick(struct client *c)
{
	c->flags &= ~CLIENT_HOLD;
	if (c->flags & (CLIENT_BUSY | CLIENT_DEAD | CLIENT_CLOSING))
		return;
	/* Past its end of file only if something is left to run. */
	if (!(c->flags & CLIENT_EOF) || c->batch != NULL ||
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		client_yield(c);
}
