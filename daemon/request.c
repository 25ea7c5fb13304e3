/* SPDX-License-Identifier: ISC */
/*
 * From a decoded line to answers: envelope errors, method lookup, params
 * checks, then the method's exec. A request that waits (join) is parked on
 * its client, which owns it; a batch is answered as one array once its
 * last request is answered.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include "procd.h"

static void
batch_release(struct batch *b)
{
	if (--b->outstanding > 0)
		return;
	if (json_array_size(b->responses) > 0)
		client_send(b->client, b->responses);
	else
		json_decref(b->responses);
	free(b);
}

/* Sends resp for a request (or an invalid entry) of c, into its batch. */
static void
request_deliver(struct client *c, struct batch *b, json_t *resp)
{
	if (resp == NULL)
		fatalx("%s: cannot build a response", __func__);
	if (b != NULL)
		json_array_append_new(b->responses, resp);
	else
		client_send(c, resp);
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
		batch_release(req->batch);
	json_decref(req->id);
	json_decref(req->params);
	if (req->flags & REQUEST_PARKED)
		client_request_done(c);
	free(req);
}

/* Answers req with result (stolen) and frees it. */
enum method_return
request_reply(struct request *req, json_t *result)
{
	if (req->id != NULL)
		request_deliver(req->client, req->batch,
		    proto_result_new(req->id, result));
	else
		json_decref(result);
	request_free(req);
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
	request_deliver(req->client, req->batch, proto_error_new(req->id,
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

static void
request_dispatch(struct client *c, struct batch *b,
    const struct proto_request *pr)
{
	const struct method_entry	*m;
	struct request			*req;
	char				*cause;
	int				 notification;

	if (pr->error != 0) {
		request_deliver(c, b, proto_error_new(pr->id, pr->error,
		    pr->message, NULL));
		return;
	}
	notification = proto_request_is_notification(pr);
	if ((m = method_find(pr->method)) == NULL) {
		if (!notification)
			request_deliver(c, b, proto_error_new(pr->id,
			    PROTO_METHOD_NOT_FOUND, "Method not found", NULL));
		return;
	}
	if (notification && (m->flags & METHOD_NOTIFY_NOOP))
		return;
	if (proto_params_check(pr->params, m->params, &cause) == -1) {
		if (!notification)
			request_deliver(c, b, proto_error_new(pr->id,
			    PROTO_INVALID_PARAMS, cause, NULL));
		free(cause);
		return;
	}
	req = xcalloc(1, sizeof *req);
	req->client = c;
	req->id = json_incref(pr->id);
	req->params = pr->params != NULL ? json_incref(pr->params) :
	    json_object();
	req->method = m;
	if ((req->batch = b) != NULL)
		b->outstanding++;
	m->exec(req);
}

/* Handles one line (without "\r\n") from client c. */
void
request_line(struct client *c, const char *line, size_t len)
{
	struct proto_message	 msg;
	struct batch		*b = NULL;
	size_t			 i;

	if (proto_decode(line, len, &msg) == -1)
		fatalx("%s: out of memory", __func__);
	if (msg.parse_error) {
		client_send(c, proto_error_new(NULL, PROTO_PARSE_ERROR,
		    "Parse error", NULL));
		return;
	}
	if (msg.batch) {
		b = xcalloc(1, sizeof *b);
		b->client = c;
		b->responses = json_array();
		b->outstanding = 1;	/* held until every entry is in */
	}
	for (i = 0; i < msg.nrequests; i++)
		request_dispatch(c, b, &msg.requests[i]);
	if (b != NULL)
		batch_release(b);
	proto_message_clear(&msg);
}
