/* SPDX-License-Identifier: ISC */
/*
 * From a decoded line to answers: envelope errors, method lookup, params
 * checks, then the method's exec. Answers are built as text around the
 * result's text (a job's is cached), so a busy connection costs little
 * JSON work. A request that waits (join, logs -f) is parked on its client,
 * which owns it; a batch is answered as one array once its last request is
 * answered. A batch runs in order, over several loop turns if it is long,
 * and its answer counts against the client's output limit as it grows.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procd.h"

static void	request_unpark(struct request *);

static void
request_batch_release(struct batch *b)
{
	size_t	len;

	if (--b->outstanding > 0)
		return;
	if ((len = evbuffer_get_length(b->out)) > 0) {
		evbuffer_add(b->out, "]\n", 2);
		evbuffer_prepend(b->out, "[", 1);
		client_send_buffer(b->client, b->out);
	}
	evbuffer_free(b->out);
	free(b);
}

/*
 * Is there room in b's answer for len more bytes? A batch's answer counts
 * against the client's output limit while it is built: once it would pass
 * it, the client is cut off, as for a single answer that is too large,
 * and the rest of the batch is not executed.
 */
static int
request_batch_room(struct client *c, struct batch *b, size_t len)
{
	if (c->flags & CLIENT_DEAD)
		return (0);
	/* "[", the commas so far and "]\n" */
	return (!client_output_over(c, evbuffer_get_length(b->out) + len + 3));
}

/* Sends one answer line (malloc'd, stolen, ends in "\n") into its batch. */
static void
request_deliver(struct client *c, struct batch *b, char *line, size_t len)
{
	if (b == NULL) {
		client_send_line(c, line, len, 0);
		return;
	}
	if (request_batch_room(c, b, len)) {
		if (evbuffer_get_length(b->out) > 0)
			evbuffer_add(b->out, ",", 1);
		evbuffer_add(b->out, line, len - 1);
	}
	free(line);
}

/* Sends an envelope built with jansson (stolen). */
static void
request_deliver_json(struct client *c, struct batch *b, json_t *msg)
{
	char	*line;
	size_t	 len;

	if (msg == NULL || (line = proto_encode(msg, &len)) == NULL)
		fatalx("%s: cannot build a response", __func__);
	json_decref(msg);
	request_deliver(c, b, line, len);
}

void
request_free(struct request *req)
{
	struct client	*c = req->client;

	if (req->timer != NULL)
		event_free(req->timer);
	logreply_free(req->reply);
	if (req->queue != NULL)
		TAILQ_REMOVE(req->queue, req, job_entry);
	request_unpark(req);
	if (req->batch != NULL)
		request_batch_release(req->batch);
	json_decref(req->id);
	json_decref(req->params);
	free(req->idtext);
	if (req->flags & REQUEST_UNPARKED)
		client_request_done(c);
	free(req);
}

/*
 * Takes req off its client's list of parked requests, as its answer is
 * about to be sent: sending can cut the client off, which frees the
 * requests on that list, and req is freed by its answerer alone.
 */
static void
request_unpark(struct request *req)
{
	struct client	*c = req->client;

	if (!(req->flags & REQUEST_PARKED))
		return;
	TAILQ_REMOVE(&c->requests, req, client_entry);
	c->npending--;
	req->flags &= ~REQUEST_PARKED;
	req->flags |= REQUEST_UNPARKED;
}

/*
 * Parks req on one of job's queues until it is answered, or until
 * timeout seconds pass (timeout < 0: never, and cb may be NULL), when
 * cb(req) answers it.
 */
enum method_return
request_park_job(struct request *req, struct job *job,
    struct requests *queue, double timeout, event_callback_fn cb)
{
	struct timeval	tv;

	if (timeout >= 0) {
		method_timeval(timeout, &tv);
		req->timer = evtimer_new(procd_base, cb, req);
		evtimer_add(req->timer, &tv);
	}
	req->job = job;
	req->queue = queue;
	TAILQ_INSERT_TAIL(queue, req, job_entry);
	request_park(req);
	return (METHOD_WAIT);
}

/*
 * Answers req with the JSON text of its result, then frees req. prefix and
 * suffix, if not NULL, wrap the text (for {"job": ...} and the like).
 */
enum method_return
request_reply_text(struct request *req, const char *prefix,
    const char *text, size_t len, const char *suffix)
{
	char	*line;
	int	 n;

	request_unpark(req);
	if (req->id != NULL) {
		n = xasprintf(&line, "{\"jsonrpc\":\"2.0\",\"id\":%s,"
		    "\"result\":%s%.*s%s}\n", req->idtext, prefix ? prefix : "",
		    (int)len, text, suffix ? suffix : "");
		request_deliver(req->client, req->batch, line, n);
	}
	request_free(req);
	return (METHOD_DONE);
}

/* The bytes of an answer line around its result. */
size_t
request_reply_overhead(const struct request *req)
{
	return (sizeof "{\"jsonrpc\":\"2.0\",\"id\":,\"result\":}\n" - 1 +
	    (req->idtext != NULL ? strlen(req->idtext) : 0));
}

/*
 * Answers req with the JSON text in result (moved out of it, not
 * copied), then frees req: for answers too large to copy.
 */
enum method_return
request_reply_buffer(struct request *req, struct evbuffer *result)
{
	struct client	*c = req->client;
	struct evbuffer	*msg;

	request_unpark(req);
	if (req->id != NULL && !(c->flags & CLIENT_DEAD)) {
		if ((msg = evbuffer_new()) == NULL)
			fatalx("%s: evbuffer_new failed", __func__);
		evbuffer_add_printf(msg, "{\"jsonrpc\":\"2.0\",\"id\":%s,"
		    "\"result\":", req->idtext);
		evbuffer_add_buffer(msg, result);
		evbuffer_add(msg, "}", 1);
		if (req->batch == NULL) {
			evbuffer_add(msg, "\n", 1);
			client_send_buffer(c, msg);
		} else if (request_batch_room(c, req->batch,
		    evbuffer_get_length(msg))) {
			if (evbuffer_get_length(req->batch->out) > 0)
				evbuffer_add(req->batch->out, ",", 1);
			evbuffer_add_buffer(req->batch->out, msg);
		}
		evbuffer_free(msg);
	}
	request_free(req);
	return (METHOD_DONE);
}

/* Answers req with a job object. */
enum method_return
request_reply_job(struct request *req, struct job *job)
{
	const char	*text;
	size_t		 len;

	text = job_text(job, &len);
	return (request_reply_text(req, NULL, text, len, NULL));
}

/* Answers req with result (stolen) and frees it. */
enum method_return
request_reply(struct request *req, json_t *result)
{
	char	*text;

	if (req->id == NULL) {
		json_decref(result);
		request_free(req);
		return (METHOD_DONE);
	}
	if ((text = proto_dump(result != NULL ? result : json_null())) ==
	    NULL)
		fatalx("%s: cannot encode a result", __func__);
	json_decref(result);
	request_reply_text(req, NULL, text, strlen(text), NULL);
	free(text);
	return (METHOD_DONE);
}

static enum method_return
request_verror(struct request *req, int code, json_t *data, const char *fmt,
    va_list ap)
{
	char	*message;

	request_unpark(req);
	if (req->id == NULL) {
		json_decref(data);
		request_free(req);
		return (METHOD_DONE);
	}
	if (vasprintf(&message, fmt, ap) == -1)
		fatal("vasprintf");
	request_deliver_json(req->client, req->batch, proto_error_new(req->id,
	    code, message, data));
	free(message);
	request_free(req);
	return (METHOD_DONE);
}

/* Answers req with an error and frees it. */
enum method_return
request_error(struct request *req, int code, const char *fmt, ...)
{
	enum method_return	ret;
	va_list			ap;

	va_start(ap, fmt);
	ret = request_verror(req, code, NULL, fmt, ap);
	va_end(ap);
	return (ret);
}

enum method_return
request_error_data(struct request *req, int code, json_t *data,
    const char *fmt, ...)
{
	enum method_return	ret;
	va_list			ap;

	va_start(ap, fmt);
	ret = request_verror(req, code, data, fmt, ap);
	va_end(ap);
	return (ret);
}

/* Keeps req on its client until it is answered or the client goes. */
void
request_park(struct request *req)
{
	req->flags |= REQUEST_PARKED;
	TAILQ_INSERT_TAIL(&req->client->requests, req, client_entry);
	req->client->npending++;
}

static struct request *
request_new(struct client *c, struct batch *b,
    const struct proto_request *pr, const struct method_entry *m)
{
	struct request	*req;

	req = xcalloc(1, sizeof *req);
	req->client = c;
	req->method = m;
	req->params = pr->params != NULL ? json_incref(pr->params) :
	    json_object();
	if (pr->id != NULL) {
		req->id = json_incref(pr->id);
		if (json_is_integer(pr->id))
			xasprintf(&req->idtext, "%lld",
			    (long long)json_integer_value(pr->id));
		else if ((req->idtext = proto_dump(pr->id)) == NULL)
			fatalx("%s: cannot encode an id", __func__);
	}
	if ((req->batch = b) != NULL)
		b->outstanding++;
	return (req);
}

static void
request_dispatch(struct client *c, struct batch *b,
    const struct proto_request *pr)
{
	const struct method_entry	*m;
	char				*cause;
	int				 notification;

	if (pr->error != 0) {
		request_deliver_json(c, b, proto_error_new(pr->id, pr->error,
		    pr->message, NULL));
		return;
	}
	notification = proto_request_is_notification(pr);
	if ((m = method_find(pr->method)) == NULL) {
		if (!notification)
			request_deliver_json(c, b, proto_error_new(pr->id,
			    PROTO_METHOD_NOT_FOUND, "Method not found", NULL));
		return;
	}
	if (notification && (m->flags & METHOD_NOTIFY_NOOP))
		return;
	if (proto_params_check(pr->params, m->proto->params, &cause) == -1) {
		if (!notification)
			request_deliver_json(c, b, proto_error_new(pr->id,
			    PROTO_INVALID_PARAMS, cause, NULL));
		free(cause);
		return;
	}
	/* Only start and join may run before the spawns out are done. */
	if (!(m->flags & METHOD_SPAWNS_OUT))
		spawn_defer_flush();
	m->exec(request_new(c, b, pr, m));
}

/*
 * Executes the requests of c's running batch in order, as long as its
 * turn lasts. Returns 1 if some are left for a later turn, else 0 (the
 * batch is done and released).
 */
int
request_batch_resume(struct client *c)
{
	struct batch	*b = c->batch;

	while (b->next < b->msg.nrequests) {
		if ((b->next > 0 && client_turn_over()) ||
		    (c->flags & CLIENT_HOLD))
			return (1);
		spawn_defer_more(b->next + 1 < b->msg.nrequests);
		request_dispatch(c, b, &b->msg.requests[b->next++]);
		/* Cut off: client_close abandoned b, which may be gone. */
		if (c->flags & CLIENT_DEAD)
			return (0);
	}
	request_batch_abandon(c);
	return (0);
}

/* Drops what is left of c's running batch (c is done or closing). */
void
request_batch_abandon(struct client *c)
{
	struct batch	*b = c->batch;

	if (b == NULL)
		return;
	c->batch = NULL;
	proto_message_clear(&b->msg);
	request_batch_release(b);
}

/*
 * Handles one line (without "\r\n") from client c. A batch may leave
 * c->batch set: its rest runs on later turns, before c's next line.
 */
void
request_line(struct client *c, const char *line, size_t len)
{
	struct proto_message	 msg;
	struct batch		*b;

	if (proto_frame_blank(line, len))
		return;
	if (proto_decode(line, len, &msg) == -1)
		fatalx("%s: out of memory", __func__);
	if (msg.parse_error) {
		request_deliver_json(c, NULL, proto_error_new(NULL,
		    PROTO_PARSE_ERROR, "Parse error", NULL));
		return;
	}
	if (!msg.batch) {
		if (msg.nrequests == 1)
			request_dispatch(c, NULL, &msg.requests[0]);
		proto_message_clear(&msg);
		return;
	}
	b = request_batch_new(c);
	b->outstanding = 1;	/* held until every entry has run */
	b->msg = msg;
	c->batch = b;
	request_batch_resume(c);
}

/* A batch's answer, empty so far, held by no request yet. */
struct batch *
request_batch_new(struct client *c)
{
	struct batch	*b;

	b = xcalloc(1, sizeof *b);
	b->client = c;
	if ((b->out = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new failed", __func__);
	return (b);
}
