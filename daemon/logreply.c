/* SPDX-License-Identifier: ISC */
/*
 * What logs sends at once: the records answer, or the retained records a
 * follow starts with. The newest output that fits the bound is copied
 * out of the job's log in one go (a copy is cheap), then encoded in
 * slices over loop turns (encoding is not), so one large answer never
 * keeps procd from its other clients for long. A follower's live output
 * waits behind its replay, in order.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "procd.h"

#define LOGREPLY_SLICE	(48 * 1024)	/* a multiple of 3, for base64 */

#define LOGREPLY_RECORDS_HEAD	"{\"records\":["
#define LOGREPLY_RECORDS_TAIL	"],\"truncated\":false}"
/* A record around its data, its comma, and base64's padding. */
#define LOGREPLY_RECORD_OVERHEAD \
	(sizeof "{\"stream\":\"stdout\",\"data\":\"\"}," + 3)

/* Bytes of one stream, in a row, still to be encoded. */
struct logreply_piece {
	TAILQ_ENTRY(logreply_piece)	 entry;
	int				 stream;
	int				 final;	/* the stream ends here */
	struct evbuffer			*data;
};
TAILQ_HEAD(logreply_pieces, logreply_piece);

struct logreply {
	struct request		*req;		/* owns this */
	int			 follow;	/* notifications, not records */
	int			 base64;
	int			 open;		/* streams still open */
	struct logreply_pieces	 pieces;
	size_t			 pending;	/* bytes in pieces */
	int			 truncated;
	/* records */
	struct evbuffer		*out;		/* the result so far */
	struct evbuffer		*record;	/* the current record's data */
	int			 count;
	struct proto_utf8	 utf8[2];
	struct event		*timer;
	size_t			 reserved;	/* of the client's output limit */
};

static void	logreply_step(int, short, void *);

static struct logreply *
logreply_new(struct request *req, struct job *job, int follow)
{
	struct logreply	*lr;

	lr = xcalloc(1, sizeof *lr);
	lr->req = req;
	lr->follow = follow;
	lr->base64 = req->follow_base64;
	lr->open = output_open_streams(job);
	TAILQ_INIT(&lr->pieces);
	lr->timer = evtimer_new(procd_base, logreply_step, lr);
	if (!follow && ((lr->out = evbuffer_new()) == NULL ||
	    (lr->record = evbuffer_new()) == NULL))
		fatalx("%s: evbuffer_new failed", __func__);
	req->reply = lr;
	return (lr);
}

/*
 * What is being built counts against the client's output limit, raw
 * bytes and encoded ones alike: a batch of large logs requests must not
 * build more than that limit before any of it is queued.
 */
static void
logreply_reserve(struct logreply *lr, size_t n)
{
	struct client	*c = lr->req->client;

	c->reserved -= lr->reserved;
	lr->reserved = n;
	c->reserved += n;
}

static size_t
logreply_size(const struct logreply *lr)
{
	size_t	n = lr->pending;

	if (lr->out != NULL)
		n += evbuffer_get_length(lr->out) +
		    evbuffer_get_length(lr->record);
	return (n);
}

void
logreply_free(struct logreply *lr)
{
	struct logreply_piece	*p;

	if (lr == NULL)
		return;
	logreply_reserve(lr, 0);
	while ((p = TAILQ_FIRST(&lr->pieces)) != NULL) {
		TAILQ_REMOVE(&lr->pieces, p, entry);
		evbuffer_free(p->data);
		free(p);
	}
	if (lr->out != NULL)
		evbuffer_free(lr->out);
	if (lr->record != NULL)
		evbuffer_free(lr->record);
	event_free(lr->timer);
	free(lr);
}

/* Appends bytes to the pieces, joining them to the last of their stream. */
static void
logreply_add(struct logreply *lr, int stream, const char *data, size_t len,
    int final)
{
	struct logreply_piece	*p;

	p = TAILQ_LAST(&lr->pieces, logreply_pieces);
	if (p == NULL || p->stream != stream || p->final) {
		p = xcalloc(1, sizeof *p);
		p->stream = stream;
		if ((p->data = evbuffer_new()) == NULL)
			fatalx("%s: evbuffer_new failed", __func__);
		TAILQ_INSERT_TAIL(&lr->pieces, p, entry);
	}
	evbuffer_add(p->data, data, len);
	p->final = final;
	lr->pending += len;
}

static void
logreply_copy_chunk(int stream, const char *data, size_t len, int last,
    void *arg)
{
	struct logreply	*lr = arg;

	logreply_add(lr, stream, data, len, last &&
	    !(lr->open & (1 << stream)));
}

/* Ends the current record: written only if its data is not empty. */
static void
logreply_end_record(struct logreply *lr, int stream)
{
	if (evbuffer_get_length(lr->record) == 0)
		return;
	if (lr->count++ > 0)
		evbuffer_add(lr->out, ",", 1);
	evbuffer_add_printf(lr->out, "{\"stream\":\"%s\",\"data\":\"",
	    logbuf_stream_name(stream));
	evbuffer_add_buffer(lr->out, lr->record);
	evbuffer_add(lr->out, "\"}", 2);
}

/*
 * Encodes one slice of the first piece. Returns 0, or -1 if that closed
 * the client (then lr is freed).
 */
static int
logreply_slice(struct logreply *lr)
{
	struct logreply_piece	*p = TAILQ_FIRST(&lr->pieces);
	struct client		*c = lr->req->client;
	char			 slice[LOGREPLY_SLICE];
	size_t			 len;
	int			 last;

	len = evbuffer_remove(p->data, slice, sizeof slice);
	lr->pending -= len;
	last = evbuffer_get_length(p->data) == 0;
	if (lr->follow) {
		output_notify(lr->req, p->stream, slice, len, last && p->final);
		if (c->flags & CLIENT_DEAD)
			return (-1);
	} else {
		output_data(lr->record, slice, len, lr->base64,
		    &lr->utf8[p->stream], last && p->final);
		if (last)
			logreply_end_record(lr, p->stream);
	}
	logreply_reserve(lr, logreply_size(lr));
	if (last) {
		TAILQ_REMOVE(&lr->pieces, p, entry);
		evbuffer_free(p->data);
		free(p);
	}
	return (0);
}

/* All encoded: answers the records request, or lets a follow go live. */
static void
logreply_done(struct logreply *lr)
{
	struct request	*req = lr->req;
	struct job	*job;

	if (lr->follow) {
		req->reply = NULL;
		logreply_free(lr);
		if ((job = req->job) != NULL)
			output_check_done(job);
		return;
	}
	evbuffer_add_printf(lr->out, "],\"truncated\":%s}",
	    lr->truncated ? "true" : "false");
	logreply_reserve(lr, 0);		/* it is queued now */
	request_reply_buffer(req, lr->out);	/* frees req, and so lr */
}

/* Encodes until the turn is over; the rest on the next turn. */
static void
logreply_step(int fd, short events, void *arg)
{
	static const struct timeval	 now = { 0, 0 };
	struct logreply			*lr = arg;
	int				 n = 0;

	client_turn_begin();
	while (!TAILQ_EMPTY(&lr->pieces)) {
		if (n++ > 0 && client_turn_over()) {
			evtimer_add(lr->timer, &now);
			return;
		}
		if (logreply_slice(lr) == -1)
			return;
	}
	logreply_done(lr);
}

/* Encodes all that is left. Returns 0, or -1 if that closed the client. */
static int
logreply_slice_all(struct logreply *lr)
{
	while (!TAILQ_EMPTY(&lr->pieces)) {
		if (logreply_slice(lr) == -1)
			return (-1);
	}
	return (0);
}

/* Encodes everything left now: the follow is about to be answered. */
int
logreply_flush(struct request *req)
{
	struct logreply	*lr = req->reply;
	struct client	*c = req->client;

	if (lr == NULL)
		return (0);
	if (logreply_slice_all(lr) == -1)
		return (-1);
	req->reply = NULL;
	logreply_free(lr);
	return ((c->flags & CLIENT_DEAD) ? -1 : 0);
}

/*
 * Reserves room for what lr will send, within the client's limit (with
 * what its batch holds so far). Returns -1 if that cut the client off;
 * then the request, parked, is freed with lr.
 */
static int
logreply_admit(struct logreply *lr)
{
	struct request	*req = lr->req;
	size_t		 n = logreply_size(lr);

	if (req->batch != NULL)
		n += evbuffer_get_length(req->batch->out);
	if (client_output_over(req->client, n))
		return (-1);
	logreply_reserve(lr, logreply_size(lr));
	return (0);
}

/*
 * Sends what lr copied: at once if it is small, else over the next turns.
 * A client it cuts off frees lr with the request.
 */
static void
logreply_start(struct logreply *lr)
{
	static const struct timeval	now = { 0, 0 };

	if (logreply_admit(lr) == -1)
		return;
	if (lr->pending < LOGREPLY_SLICE)
		logreply_step(-1, 0, lr);
	else
		evtimer_add(lr->timer, &now);
}

/*
 * Starts the answer to logs without follow: the newest records that fit
 * in budget bytes of result. The request is parked until it is built.
 */
void
logreply_records(struct request *req, struct job *job, int streams,
    long long tail, size_t budget)
{
	struct logreply		*lr;
	struct logbuf_bound	 bound;

	request_park(req);
	lr = logreply_new(req, job, 0);
	memset(&bound, 0, sizeof bound);
	bound.overhead = LOGREPLY_RECORD_OVERHEAD;
	bound.base64 = lr->base64;
	if (budget > sizeof LOGREPLY_RECORDS_HEAD +
	    sizeof LOGREPLY_RECORDS_TAIL)
		bound.budget = budget - sizeof LOGREPLY_RECORDS_HEAD -
		    sizeof LOGREPLY_RECORDS_TAIL;
	lr->truncated = logbuf_walk(&job->log, streams, tail, &bound,
	    logreply_copy_chunk, lr) || job->log.truncated;
	evbuffer_add(lr->out, LOGREPLY_RECORDS_HEAD,
	    sizeof LOGREPLY_RECORDS_HEAD - 1);
	logreply_start(lr);
}

/*
 * Starts a follow's replay: the newest retained records that fit in
 * budget bytes of notifications. Notes in the request whether older
 * output is missing from what it is sent.
 */
void
logreply_replay(struct request *req, struct job *job, long long tail,
    size_t budget)
{
	struct logreply		*lr;
	struct logbuf_bound	 bound;
	size_t			 overhead, slices;

	lr = logreply_new(req, job, 1);
	overhead = output_notify_overhead(req) + 3;	/* + base64 padding */
	/* A notification per piece and per slice of one. */
	slices = budget / LOGREPLY_SLICE + 1;
	memset(&bound, 0, sizeof bound);
	bound.overhead = overhead;
	bound.base64 = lr->base64;
	if (budget > slices * overhead)
		bound.budget = budget - slices * overhead;
	req->follow_truncated = logbuf_walk(&job->log, req->follow_streams,
	    tail, &bound, logreply_copy_chunk, lr) || job->log.truncated;
	logreply_start(lr);
}

/*
 * Live output for a follower: behind its replay while that is being
 * sent. Returns 1 if it was queued, 0 if the caller sends it now.
 */
int
logreply_live(struct request *req, int stream, const char *data,
    size_t len, int final)
{
	struct logreply	*lr = req->reply;

	if (lr == NULL)
		return (0);
	if (client_output_over(req->client, len))
		return (1);		/* closed; req is freed */
	logreply_add(lr, stream, data, len, final);
	logreply_reserve(lr, logreply_size(lr));
	return (1);
}

/* Builds and sends all of req's answer now (before a reexec). */
void
logreply_complete(struct request *req)
{
	struct logreply	*lr = req->reply;

	if (logreply_slice_all(lr) == -1)
		return;
	evtimer_del(lr->timer);
	logreply_done(lr);
}
