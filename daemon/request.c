/* SPDX-License-Identifier: ISC */
/*
 * From a decoded line to answers: envelope errors, method lookup, params
 * checks, then the method's exec. Answers are built as text around the
 * result's text (a job's is cached), so a busy connection costs little
 * JSON work. A request that waits (join, logs -f) is parked on its client,
 * which owns it; a batch is answered as one array once its last request is
 * answered.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "procd.h"

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

/* Sends one answer line (malloc'd, stolen, ends in "\n") into its batch. */
static void
request_deliver(struct client *c, struct batch *b, char *line, size_t len)
{
	if (b == NULL) {
		client_send_line(c, line, len, 0);
		return;
	}
	if (evbuffer_get_length(b->out) > 0)
		evbuffer_add(b->out, ",", 1);
	evbuffer_add(b->out, line, len - 1);
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
	if (req->queue != NULL)
		TAILQ_REMOVE(req->queue, req, job_entry);
	if (req->flags & REQUEST_PARKED) {
		TAILQ_REMOVE(&c->requests, req, client_entry);
		c->npending--;
	}
	if (req->batch != NULL)
		request_batch_release(req->batch);
	json_decref(req->id);
	json_decref(req->params);
	free(req->idtext);
	if (req->flags & REQUEST_PARKED)
		client_request_done(c);
	free(req);
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

	if (req->id != NULL) {
		n = xasprintf(&line, "{\"jsonrpc\":\"2.0\",\"id\":%s,"
		    "\"result\":%s%.*s%s}\n", req->idtext, prefix ? prefix : "",
		    (int)len, text, suffix ? suffix : "");
		request_deliver(req->client, req->batch, line, n);
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
	if (proto_params_check(pr->params, m->params, &cause) == -1) {
		if (!notification)
			request_deliver_json(c, b, proto_error_new(pr->id,
			    PROTO_INVALID_PARAMS, cause, NULL));
		free(cause);
		return;
	}
	m->exec(request_new(c, b, pr, m));
}

/* Handles one line (without "\r\n") from client c. */
void
request_line(struct client *c, const char *line, size_t len)
{
	struct proto_message	 msg;
	struct batch		*b = NULL;
	size_t			 i;

	if (proto_frame_blank(line, len))
		return;
	if (proto_decode(line, len, &msg) == -1)
		fatalx("%s: out of memory", __func__);
	if (msg.parse_error) {
		request_deliver_json(c, NULL, proto_error_new(NULL,
		    PROTO_PARSE_ERROR, "Parse error", NULL));
		return;
	}
	if (msg.batch) {
		b = xcalloc(1, sizeof *b);
		b->client = c;
		if ((b->out = evbuffer_new()) == NULL)
			fatalx("%s: evbuffer_new failed", __func__);
		b->outstanding = 1;	/* held until every entry is in */
	}
	for (i = 0; i < msg.nrequests; i++)
		request_dispatch(c, b, &msg.requests[i]);
	if (b != NULL)
		request_batch_release(b);
	proto_message_clear(&msg);
}
