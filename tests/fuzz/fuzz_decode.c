/* SPDX-License-Identifier: ISC */
/*
 * libFuzzer harness for the request path a client's bytes take: framing,
 * decoding, parameter tables and the reply envelopes, with the decoder's
 * answers checked against jansson and against a re-encode round trip.
 */

#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* Small, so that the too-long path is reached as well. */
#define FUZZ_MAX_LINE	2048

#define FUZZ_CHECK(e)	do {						\
	if (!(e))							\
		abort();						\
} while (0)

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const struct proto_param fuzz_misc[] = {
	{ "job", PROTO_P_JOB, 0, NULL, NULL },
	{ "state", PROTO_P_STATES, 0, NULL, NULL },
	{ "signal", PROTO_P_SIGNAL, 0, NULL, NULL },
	{ "group", PROTO_P_BOOL, 0, NULL, NULL },
	{ "jobs", PROTO_P_JOBS, 0, NULL, NULL },
	{ "since", PROTO_P_UINT, 0, NULL, NULL },
	{ "limit", PROTO_P_LOG_LIMIT, 0, NULL, NULL },
	{ "data", PROTO_P_ANY, 0, NULL, NULL },
	{ NULL, 0, 0, NULL, NULL },
};

static const struct proto_param *const fuzz_specs[] = {
	proto_params_start, proto_params_join, proto_params_stop,
	proto_params_signal, proto_params_job, proto_params_list,
	proto_params_none, proto_params_logs, proto_params_subscribe,
	proto_params_unsubscribe, fuzz_misc,
};

static int
fuzz_id_ok(const json_t *id)
{
	return (id == NULL || json_is_string(id) || json_is_number(id) ||
	    json_is_null(id));
}

static void
fuzz_params(const json_t *params)
{
	size_t	 i;
	char	*cause;
	json_t	*v;
	int	 rc;

	for (i = 0; i < sizeof fuzz_specs / sizeof fuzz_specs[0]; i++) {
		rc = proto_params_check(params, fuzz_specs[i], &cause);
		FUZZ_CHECK(rc == 0 || rc == -1);
		FUZZ_CHECK(rc == 0 ? cause == NULL : 1);
		free(cause);
	}
	if (!json_is_object(params))
		return;
	if ((v = json_object_get(params, "state")) != NULL) {
		cause = NULL;
		if (proto_states_mask(v, &cause) == -1)
			FUZZ_CHECK(cause != NULL);
		free(cause);
	}
	if ((v = json_object_get(params, "signal")) != NULL) {
		rc = proto_signal_parse(v);
		FUZZ_CHECK(rc == -1 || (rc >= 1 && rc <= 64));
	}
	if ((v = json_object_get(params, "name")) != NULL &&
	    json_is_string(v))
		(void)proto_name_valid(json_string_value(v));
	(void)proto_job_exit_status(params);
}

/* A valid request, encoded again, decodes to the same request. */
static void
fuzz_round_trip(const struct proto_request *req)
{
	struct proto_message	 again;
	json_t			*msg;
	char			*line;
	size_t			 len;

	if (req->id == NULL)
		msg = proto_notification_new(req->method,
		    json_incref(req->params));
	else
		msg = proto_request_new(req->method, json_incref(req->params),
		    req->id);
	FUZZ_CHECK(msg != NULL);
	line = proto_encode(msg, &len);
	json_decref(msg);
	FUZZ_CHECK(line != NULL && len > 0 && line[len - 1] == '\n');
	FUZZ_CHECK(memchr(line, '\n', len) == line + len - 1);
	FUZZ_CHECK(proto_decode(line, len - 1, &again) == 0);
	FUZZ_CHECK(!again.parse_error && !again.batch &&
	    again.nrequests == 1);
	FUZZ_CHECK(again.requests[0].error == 0);
	FUZZ_CHECK(strcmp(again.requests[0].method, req->method) == 0);
	FUZZ_CHECK(proto_request_is_notification(&again.requests[0]) ==
	    proto_request_is_notification(req));
	FUZZ_CHECK((again.requests[0].params == NULL) ==
	    (req->params == NULL));
	proto_message_clear(&again);
	free(line);
}

static void
fuzz_reply(const struct proto_request *req)
{
	json_t	*msg;
	char	*line;

	if (req->error != 0)
		msg = proto_error_new(req->id, req->error, req->message,
		    NULL);
	else
		msg = proto_result_new(req->id, json_incref(req->params));
	FUZZ_CHECK(msg != NULL);
	line = proto_encode(msg, NULL);
	FUZZ_CHECK(line != NULL);
	free(line);
	json_decref(msg);
}

static void
fuzz_line(const char *line, size_t len)
{
	struct proto_message		 msg;
	const struct proto_request	*req;
	json_error_t			 error;
	json_t				*plain;
	size_t				 i;

	FUZZ_CHECK(proto_decode(line, len, &msg) == 0);

	/*
	 * jansson with duplicates allowed is the judge of "is it JSON",
	 * except that it stops at a NUL in a key, or at a number too large
	 * for it, and so cannot judge those.
	 */
	plain = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
	    &error);
	if (plain != NULL)
		FUZZ_CHECK(!msg.parse_error);
	else if (json_error_code(&error) != json_error_null_byte_in_key &&
	    json_error_code(&error) != json_error_numeric_overflow)
		FUZZ_CHECK(msg.parse_error);
	json_decref(plain);

	if (msg.parse_error) {
		FUZZ_CHECK(msg.nrequests == 0 && msg.requests == NULL &&
		    msg.root == NULL);
		proto_message_clear(&msg);
		return;
	}
	FUZZ_CHECK(msg.root != NULL && msg.nrequests >= 1);
	FUZZ_CHECK(msg.batch || msg.nrequests == 1);
	for (i = 0; i < msg.nrequests; i++) {
		req = &msg.requests[i];
		FUZZ_CHECK(fuzz_id_ok(req->id));
		if (req->error != 0) {
			FUZZ_CHECK(req->error == PROTO_INVALID_REQUEST);
			FUZZ_CHECK(req->message != NULL);
			FUZZ_CHECK(req->method == NULL);
			FUZZ_CHECK(!proto_request_is_notification(req));
		} else {
			FUZZ_CHECK(req->method != NULL);
			FUZZ_CHECK(req->params == NULL ||
			    json_is_object(req->params) ||
			    json_is_array(req->params));
			fuzz_params(req->params);
			fuzz_round_trip(req);
		}
		fuzz_reply(req);
	}
	proto_message_clear(&msg);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*buf = (const char *)data;
	size_t		 off = 0, linelen, used;
	int		 rc;

	while (off < size) {
		linelen = used = 0;
		rc = proto_frame_next(buf + off, size - off, FUZZ_MAX_LINE,
		    &linelen, &used);
		if (rc != 1) {
			FUZZ_CHECK(rc == 0 || rc == -1);
			if (rc == 0)
				FUZZ_CHECK(size - off <= FUZZ_MAX_LINE + 1);
			/* As if the peer had shut down its side. */
			fuzz_line(buf + off, size - off);
			break;
		}
		FUZZ_CHECK(linelen <= FUZZ_MAX_LINE);
		FUZZ_CHECK(used >= linelen + 1 && used <= size - off);
		FUZZ_CHECK(buf[off + used - 1] == '\n');
		FUZZ_CHECK(memchr(buf + off, '\n', linelen) == NULL);
		if (linelen > 0)
			fuzz_line(buf + off, linelen);
		off += used;
	}
	return (0);
}
