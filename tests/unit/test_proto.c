/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for proto/: request decoding and its JSON-RPC envelope rules,
 * line framing, parameter tables, signals, socket paths and envelopes, each
 * checked against the rules of procd-protocol(7); and the output encoders
 * (UTF-8 with replacement, base64, JSON quoting), number precision and
 * proto_connect.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "proto.h"

/* A request object with the envelope and whatever members follow. */
#define REQ(members)	"{\"jsonrpc\":\"2.0\",\"method\":\"m\"" members "}"

/* --- helpers --- */

static void
decode(struct proto_message *msg, const char *line)
{
	assert_int_equal(proto_decode(line, strlen(line), msg), 0);
}

/* Decodes line and expects exactly one non-batch entry. */
static struct proto_request *
decode_one(struct proto_message *msg, const char *line)
{
	decode(msg, line);
	assert_false(msg->parse_error);
	assert_false(msg->batch);
	assert_int_equal(msg->nrequests, 1);
	assert_non_null(msg->root);
	return (&msg->requests[0]);
}

static void
expect_parse_error_len(const char *line, size_t len)
{
	struct proto_message	msg;

	assert_int_equal(proto_decode(line, len, &msg), 0);
	assert_true(msg.parse_error);
	assert_int_equal(msg.nrequests, 0);
	assert_null(msg.requests);
	assert_null(msg.root);
	proto_message_clear(&msg);
}

static void
expect_parse_error(const char *line)
{
	expect_parse_error_len(line, strlen(line));
}

static void
assert_id_int(const json_t *id, json_int_t n)
{
	assert_non_null(id);
	assert_true(json_is_integer(id));
	assert_int_equal(json_integer_value(id), n);
}

static void
assert_id_string(const json_t *id, const char *s)
{
	assert_non_null(id);
	assert_true(json_is_string(id));
	assert_string_equal(json_string_value(id), s);
}

/* Expects line to be one invalid request answered with integer id n. */
static void
expect_invalid_id(const char *line, json_int_t n)
{
	struct proto_message	 msg;
	struct proto_request	*req;

	req = decode_one(&msg, line);
	assert_int_equal(req->error, PROTO_INVALID_REQUEST);
	assert_non_null(req->message);
	assert_null(req->method);
	assert_null(req->params);
	assert_id_int(req->id, n);
	assert_false(proto_request_is_notification(req));
	proto_message_clear(&msg);
}

/* Expects line to be one invalid request answered with id null. */
static void
expect_invalid_noid(const char *line)
{
	struct proto_message	 msg;
	struct proto_request	*req;

	req = decode_one(&msg, line);
	assert_int_equal(req->error, PROTO_INVALID_REQUEST);
	assert_non_null(req->message);
	assert_null(req->method);
	assert_null(req->id);
	assert_false(proto_request_is_notification(req));
	proto_message_clear(&msg);
}

/* depth nested arrays, "[[...]]"; malloc'd. */
static char *
nest_arrays(int depth)
{
	char	*s;

	s = malloc(2 * depth + 1);
	assert_non_null(s);
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	return (s);
}

/* A request with id 1 whose params hold arrays up to depth in all. */
static char *
nest_request(int depth)
{
	const char	*head = REQ(",\"id\":1,\"params\":{\"a\":");
	char		*inner, *s;

	/* The request object and params are two levels. */
	inner = nest_arrays(depth - 2);
	assert_true(asprintf(&s, "%.*s%s}}", (int)strlen(head) - 1, head,
	    inner) != -1);
	free(inner);
	return (s);
}

/* --- proto_decode: single requests --- */

static void
test_decode_request(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*req;

	req = decode_one(&msg,
	    "{\"jsonrpc\":\"2.0\",\"method\":\"status\","
	    "\"params\":{\"job\":1},\"id\":1}");
	assert_int_equal(req->error, 0);
	assert_null(req->message);
	assert_string_equal(req->method, "status");
	assert_true(json_is_object(req->params));
	assert_id_int(json_object_get(req->params, "job"), 1);
	assert_id_int(req->id, 1);
	assert_false(proto_request_is_notification(req));
	proto_message_clear(&msg);

	/* Surrounding whitespace and unknown members are fine. */
	req = decode_one(&msg, " \t" REQ(",\"id\":2,\"extra\":[1]") " ");
	assert_int_equal(req->error, 0);
	assert_string_equal(req->method, "m");
	assert_null(req->params);
	assert_id_int(req->id, 2);
	proto_message_clear(&msg);

	/* Valid UTF-8 passes. */
	req = decode_one(&msg, REQ(",\"id\":\"\xc3\xa9\xe2\x82\xac\""));
	assert_int_equal(req->error, 0);
	assert_id_string(req->id, "\xc3\xa9\xe2\x82\xac");
	proto_message_clear(&msg);
}

static void
test_decode_notification(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*req;

	req = decode_one(&msg, REQ(""));
	assert_int_equal(req->error, 0);
	assert_string_equal(req->method, "m");
	assert_null(req->id);
	assert_null(req->params);
	assert_true(proto_request_is_notification(req));
	proto_message_clear(&msg);

	/* "id": null is a request, not a notification. */
	req = decode_one(&msg, REQ(",\"id\":null"));
	assert_int_equal(req->error, 0);
	assert_non_null(req->id);
	assert_true(json_is_null(req->id));
	assert_false(proto_request_is_notification(req));
	proto_message_clear(&msg);

	/* An invalid request without an id is answered, so not one. */
	req = decode_one(&msg, "{\"jsonrpc\":\"2.0\"}");
	assert_int_equal(req->error, PROTO_INVALID_REQUEST);
	assert_null(req->id);
	assert_false(proto_request_is_notification(req));
	proto_message_clear(&msg);
}

static void
test_decode_id_types(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*req;

	req = decode_one(&msg, REQ(",\"id\":\"abc\""));
	assert_int_equal(req->error, 0);
	assert_id_string(req->id, "abc");
	proto_message_clear(&msg);

	req = decode_one(&msg, REQ(",\"id\":\"\""));
	assert_int_equal(req->error, 0);
	assert_id_string(req->id, "");
	proto_message_clear(&msg);

	req = decode_one(&msg, REQ(",\"id\":-42"));
	assert_int_equal(req->error, 0);
	assert_id_int(req->id, -42);
	proto_message_clear(&msg);

	req = decode_one(&msg, REQ(",\"id\":1.5"));
	assert_int_equal(req->error, 0);
	assert_true(json_is_real(req->id));
	assert_true(json_real_value(req->id) == 1.5);
	proto_message_clear(&msg);

	req = decode_one(&msg, REQ(",\"id\":null"));
	assert_int_equal(req->error, 0);
	assert_true(json_is_null(req->id));
	proto_message_clear(&msg);
}

static void
test_decode_id_invalid(void **state)
{
	expect_invalid_noid(REQ(",\"id\":{}"));
	expect_invalid_noid(REQ(",\"id\":{\"a\":1}"));
	expect_invalid_noid(REQ(",\"id\":[]"));
	expect_invalid_noid(REQ(",\"id\":[1]"));
	expect_invalid_noid(REQ(",\"id\":true"));
	expect_invalid_noid(REQ(",\"id\":false"));
	/* A string holding NUL is not a readable id. */
	expect_invalid_noid(REQ(",\"id\":\"a\\u0000b\""));
	/* An unreadable id wins over every other fault. */
	expect_invalid_noid("{\"id\":{},\"params\":null}");
}

static void
test_decode_jsonrpc(void **state)
{
	expect_invalid_id("{\"method\":\"m\",\"id\":5}", 5);
	expect_invalid_id("{\"jsonrpc\":\"1.0\",\"method\":\"m\",\"id\":5}", 5);
	expect_invalid_id("{\"jsonrpc\":\"2\",\"method\":\"m\",\"id\":5}", 5);
	expect_invalid_id("{\"jsonrpc\":\"2.00\",\"method\":\"m\",\"id\":5}",
	    5);
	expect_invalid_id("{\"jsonrpc\":2.0,\"method\":\"m\",\"id\":5}", 5);
	expect_invalid_id("{\"jsonrpc\":null,\"method\":\"m\",\"id\":5}", 5);
	expect_invalid_id("{\"jsonrpc\":\"2.0\\u0000\",\"method\":\"m\","
	    "\"id\":5}", 5);
	expect_invalid_noid("{\"jsonrpc\":\"2.1\",\"method\":\"m\"}");
}

static void
test_decode_method(void **state)
{
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"id\":6}", 6);
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"method\":1,\"id\":6}", 6);
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"method\":null,\"id\":6}", 6);
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"method\":{},\"id\":6}", 6);
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"method\":[\"m\"],\"id\":6}",
	    6);
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"method\":\"a\\u0000\","
	    "\"id\":6}", 6);
}

static void
test_decode_params(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*req;

	expect_invalid_id(REQ(",\"id\":8,\"params\":null"), 8);
	expect_invalid_id(REQ(",\"id\":8,\"params\":1"), 8);
	expect_invalid_id(REQ(",\"id\":8,\"params\":\"x\""), 8);
	expect_invalid_id(REQ(",\"id\":8,\"params\":true"), 8);
	expect_invalid_noid(REQ(",\"params\":null"));

	/* An array is kept: the daemon answers it with -32602. */
	req = decode_one(&msg, REQ(",\"id\":8,\"params\":[1,2]"));
	assert_int_equal(req->error, 0);
	assert_true(json_is_array(req->params));
	assert_int_equal(json_array_size(req->params), 2);
	proto_message_clear(&msg);

	req = decode_one(&msg, REQ(",\"id\":8,\"params\":{}"));
	assert_int_equal(req->error, 0);
	assert_true(json_is_object(req->params));
	proto_message_clear(&msg);
}

static void
test_decode_not_object(void **state)
{
	expect_invalid_noid("1");
	expect_invalid_noid("\"request\"");
	expect_invalid_noid("null");
	expect_invalid_noid("true");
}

/* --- proto_decode: batches --- */

static void
test_decode_empty_batch(void **state)
{
	expect_invalid_noid("[]");
	expect_invalid_noid(" [ \t ] ");
}

static void
test_decode_batch(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*r;

	decode(&msg, "[" REQ(",\"id\":1") ",1," REQ("") ","
	    "{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":\"x\"},"
	    REQ(",\"id\":{}") ",[]," REQ(",\"id\":2,\"params\":[]") "]");
	assert_false(msg.parse_error);
	assert_true(msg.batch);
	assert_int_equal(msg.nrequests, 7);
	r = msg.requests;

	assert_int_equal(r[0].error, 0);
	assert_string_equal(r[0].method, "m");
	assert_id_int(r[0].id, 1);

	assert_int_equal(r[1].error, PROTO_INVALID_REQUEST);
	assert_null(r[1].id);

	assert_int_equal(r[2].error, 0);
	assert_true(proto_request_is_notification(&r[2]));

	assert_int_equal(r[3].error, PROTO_INVALID_REQUEST);
	assert_id_string(r[3].id, "x");

	assert_int_equal(r[4].error, PROTO_INVALID_REQUEST);
	assert_null(r[4].id);

	/* A nested array is an entry, not a batch. */
	assert_int_equal(r[5].error, PROTO_INVALID_REQUEST);
	assert_null(r[5].id);

	assert_int_equal(r[6].error, 0);
	assert_true(json_is_array(r[6].params));
	proto_message_clear(&msg);

	/* A batch of one is still a batch. */
	decode(&msg, "[" REQ(",\"id\":1") "]");
	assert_true(msg.batch);
	assert_int_equal(msg.nrequests, 1);
	assert_int_equal(msg.requests[0].error, 0);
	proto_message_clear(&msg);
}

/* --- proto_decode: duplicate keys and NUL --- */

static void
test_decode_duplicate_top(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*req;

	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"method\":\"m\","
	    "\"method\":\"n\",\"id\":3}", 3);
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"jsonrpc\":\"2.0\","
	    "\"method\":\"m\",\"id\":3}", 3);
	expect_invalid_id("{\"id\":3,\"params\":{},\"params\":{}}", 3);
	/* The same key spelt with an escape is still a duplicate. */
	expect_invalid_id("{\"id\":3,\"m\":1,\"\\u006d\":2}", 3);

	req = decode_one(&msg, "{\"id\":\"abc\",\"x\":1,\"x\":1}");
	assert_int_equal(req->error, PROTO_INVALID_REQUEST);
	assert_id_string(req->id, "abc");
	assert_null(req->method);
	proto_message_clear(&msg);

	req = decode_one(&msg, "{\"x\":1,\"x\":1,\"id\":null}");
	assert_int_equal(req->error, PROTO_INVALID_REQUEST);
	assert_true(json_is_null(req->id));
	proto_message_clear(&msg);

	/* No id member at all: still answered, with id null. */
	expect_invalid_noid(REQ(",\"method\":\"n\""));
}

static void
test_decode_duplicate_nested(void **state)
{
	expect_invalid_id(REQ(",\"id\":7,\"params\":{\"a\":1,\"a\":2}"), 7);
	expect_invalid_id(REQ(",\"id\":7,\"params\":{\"x\":[{\"b\":1,"
	    "\"b\":{\"c\":1}}]}"), 7);
	/* A nested "id" member is not the request's id. */
	expect_invalid_id(REQ(",\"params\":{\"id\":1,\"id\":2},\"id\":7"), 7);
	expect_invalid_id(REQ(",\"id\":7,\"params\":{\"env\":{\"A\":\"1\","
	    "\"A\":null}}"), 7);
}

static void
test_decode_duplicate_id(void **state)
{
	expect_invalid_noid(REQ(",\"id\":1,\"id\":2"));
	expect_invalid_noid(REQ(",\"id\":1,\"id\":1"));
	expect_invalid_noid(REQ(",\"id\":1,\"i\\u0064\":1"));
	expect_invalid_noid(REQ(",\"id\":null,\"id\":null"));
	/* A unique id that is not readable stays unreadable. */
	expect_invalid_noid("{\"id\":{\"a\":1,\"a\":1}}");
	expect_invalid_noid("{\"id\":[],\"a\":1,\"a\":1}");
	expect_invalid_noid("{\"id\":\"a\\u0000\",\"a\":1,\"a\":1}");
	expect_invalid_noid("{\"id\":true,\"a\":1,\"a\":1}");
}

static void
test_decode_duplicate_in_batch(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*r;

	decode(&msg, "[" REQ(",\"id\":1") ", " REQ(",\"id\":2,\"x\":0,"
	    "\"x\":0") "," REQ(",\"params\":{\"k\":\"v\"}") ","
	    REQ(",\"id\":4,\"id\":4") ",5," REQ(",\"id\":\"s\",\"params\":"
	    "{\"k\\u0000\":1}") "]");
	assert_false(msg.parse_error);
	assert_true(msg.batch);
	assert_int_equal(msg.nrequests, 6);
	r = msg.requests;

	assert_int_equal(r[0].error, 0);
	assert_string_equal(r[0].method, "m");
	assert_id_int(r[0].id, 1);

	assert_int_equal(r[1].error, PROTO_INVALID_REQUEST);
	assert_id_int(r[1].id, 2);

	assert_int_equal(r[2].error, 0);
	assert_true(proto_request_is_notification(&r[2]));
	assert_string_equal(json_string_value(json_object_get(r[2].params,
	    "k")), "v");

	assert_int_equal(r[3].error, PROTO_INVALID_REQUEST);
	assert_null(r[3].id);

	assert_int_equal(r[4].error, PROTO_INVALID_REQUEST);
	assert_null(r[4].id);

	assert_int_equal(r[5].error, PROTO_INVALID_REQUEST);
	assert_id_string(r[5].id, "s");
	proto_message_clear(&msg);
}

static void
test_decode_nul_string(void **state)
{
	expect_invalid_id(REQ(",\"id\":9,\"params\":{\"a\":\"x\\u0000\"}"), 9);
	expect_invalid_id(REQ(",\"id\":9,\"params\":{\"a\":[1,{\"b\":"
	    "\"\\u0000\"}]}"), 9);
	expect_invalid_id(REQ(",\"id\":9,\"other\":\"\\u0000\""), 9);
	expect_invalid_noid(REQ(",\"params\":{\"a\":\"\\u0000\"}"));

	/* An escaped backslash before u0000 is no NUL. */
	{
		struct proto_message	 msg;
		struct proto_request	*req;

		req = decode_one(&msg,
		    REQ(",\"id\":9,\"params\":{\"a\":\"\\\\u0000\"}"));
		assert_int_equal(req->error, 0);
		proto_message_clear(&msg);
	}
	/* A raw NUL byte is not JSON at all. */
	expect_parse_error_len(REQ(",\"id\":9,\"x\":\"a\0b\""),
	    sizeof REQ(",\"id\":9,\"x\":\"a\0b\"") - 1);
}

static void
test_decode_nul_key(void **state)
{
	expect_invalid_id(REQ(",\"id\":4,\"params\":{\"a\\u0000b\":1}"), 4);
	expect_invalid_id(REQ(",\"id\":4,\"x\\u0000\":1"), 4);
	expect_invalid_id("{\"\\u0000\":1,\"id\":4}", 4);
	expect_invalid_noid(REQ(",\"params\":{\"\\u0000\":1}"));
	/* "id\u0000" is another key, not a second id. */
	expect_invalid_id(REQ(",\"id\":4,\"id\\u0000\":5"), 4);
}

/* --- proto_decode: numbers too large to hold --- */

/* A request whose params fail the check with "out of range". */
static void
expect_params_out_of_range(const char *line, const struct proto_param *spec,
    const char *name)
{
	struct proto_message	 msg;
	struct proto_request	*req;
	char			*cause, want[64];

	req = decode_one(&msg, line);
	assert_int_equal(req->error, 0);
	assert_int_equal(proto_params_check(req->params, spec, &cause), -1);
	snprintf(want, sizeof want, "'%s' holds a number out of range", name);
	if (strstr(cause, want) == NULL)
		fail_msg("cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
	proto_message_clear(&msg);
}

static void
test_decode_overflow(void **state)
{
	static const struct proto_param spec_jobs[] = {
		{ "jobs", PROTO_P_JOBS, 0, NULL, NULL },
		{ NULL, 0, 0, NULL, NULL },
	};
	struct proto_message	 msg;
	struct proto_request	*req;

	expect_params_out_of_range(REQ(",\"id\":1,\"params\":{\"job\":"
	    "9223372036854775808}"), proto_params_join, "job");
	expect_params_out_of_range(REQ(",\"id\":1,\"params\":{\"job\":"
	    "-9223372036854775809}"), proto_params_join, "job");
	expect_params_out_of_range(REQ(",\"id\":1,\"params\":{\"job\":1,"
	    "\"timeout\":-1e400}"), proto_params_join, "timeout");
	expect_params_out_of_range(REQ(",\"id\":1,\"params\":{\"jobs\":"
	    "[1,[2E+999]]}"), spec_jobs, "jobs");

	/* The largest that fit are plain numbers. */
	req = decode_one(&msg, REQ(",\"id\":9223372036854775807,\"params\":"
	    "{\"a\":-9223372036854775808,\"b\":1.7e308,\"c\":1e-400}"));
	assert_int_equal(req->error, 0);
	assert_int_equal(json_integer_value(req->id), INT64_MAX);
	assert_true(json_is_integer(json_object_get(req->params, "a")));
	assert_true(json_is_real(json_object_get(req->params, "b")));
	assert_true(json_is_real(json_object_get(req->params, "c")));
	proto_message_clear(&msg);

	/* An id: cannot be echoed. A method: not a string. */
	expect_invalid_noid(REQ(",\"id\":99999999999999999999"));
	expect_invalid_id("{\"jsonrpc\":\"2.0\",\"method\":1e999,\"id\":3}",
	    3);
	/* Elsewhere, ignored; inside a string, not a number at all. */
	req = decode_one(&msg, REQ(",\"id\":5,\"x\":[1e999],"
	    "\"y\":\"1e999 \\\" 1e999\""));
	assert_int_equal(req->error, 0);
	proto_message_clear(&msg);
	/* Still not JSON: a parse error, whatever the numbers. */
	expect_parse_error(REQ(",\"id\":1,\"x\":1e999"
	    ) "x");
	expect_parse_error("[1e999,");
	expect_parse_error("1e999e");
	expect_parse_error("01e999");
	expect_parse_error("[1.e999]");
	expect_parse_error("[-99999999999999999999.]");
	expect_parse_error("{\"a\":1e+-999}");
}

/* --- proto_decode: not JSON --- */

static void
test_decode_parse_error(void **state)
{
	expect_parse_error("");
	expect_parse_error(" ");
	expect_parse_error("{");
	expect_parse_error("nope");
	expect_parse_error("{'a':1}");
	expect_parse_error(REQ(",\"id\":1") "x");
	expect_parse_error(REQ(",\"id\":1") REQ(",\"id\":2"));
	expect_parse_error("{\"a\":1,}");
	expect_parse_error("[1,]");
	expect_parse_error("[" REQ(",\"id\":1") ",");
	expect_parse_error("\"abc");
	expect_parse_error("\xef\xbb\xbf" REQ(",\"id\":1"));
}

static void
test_decode_depth(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*req;
	char			*s;

	s = nest_arrays(2048);
	decode(&msg, s);
	assert_false(msg.parse_error);
	proto_message_clear(&msg);
	free(s);

	s = nest_arrays(2049);
	expect_parse_error(s);
	free(s);

	s = nest_request(2048);
	req = decode_one(&msg, s);
	assert_int_equal(req->error, 0);
	assert_id_int(req->id, 1);
	proto_message_clear(&msg);
	free(s);

	s = nest_request(2049);
	expect_parse_error(s);
	free(s);
}

static void
test_decode_utf8(void **state)
{
	expect_parse_error(REQ(",\"id\":\"\xff\""));
	expect_parse_error(REQ(",\"id\":\"\xc0\xaf\""));
	expect_parse_error(REQ(",\"id\":\"\xed\xa0\x80\""));
	expect_parse_error(REQ(",\"id\":\"\xe2\x82\""));
	expect_parse_error(REQ(",\"id\":\"\\ud800\""));
	expect_parse_error(REQ(",\"id\":\"\\udc00x\""));
}

/*
 * Regression: a refused key used to send the line down a path that never
 * looked at the rest of it, so garbage after a duplicate or NUL key was
 * answered -32600 instead of -32700.
 */
static void
test_decode_slow_path_parse_error(void **state)
{
	char	*deep, *s;

	expect_parse_error("{\"id\":1,\"id\":2} garbage");
	expect_parse_error("{\"id\":1,\"a\":1,\"a\":2,}");
	expect_parse_error("{\"id\":1,\"a\":1,\"a\":2");
	expect_parse_error("{\"id\":1,\"a\\u0000\":1 xx");
	expect_parse_error("{\"id\":1,\"a\":1,\"a\":\"\xff\"}");
	expect_parse_error("{\"id\":1,\"a\\u0000\":\"\\ud800\"}");
	expect_parse_error("[{\"id\":1,\"a\":1,\"a\":2}, 1 2]");
	expect_parse_error("[{\"id\":1,\"a\":1,\"a\":2}, {\"x\": tru}]");
	expect_parse_error("[{\"id\":1,\"a\":1,\"a\":2}] x");

	/* The whole line counts for depth, not each batch entry. */
	deep = nest_arrays(2048);
	assert_true(asprintf(&s, "[{\"a\":1,\"a\":1},%s]", deep) != -1);
	expect_parse_error(s);
	free(s);
	free(deep);

	deep = nest_arrays(2047);
	assert_true(asprintf(&s, "[{\"a\":1,\"a\":1},%s]", deep) != -1);
	{
		struct proto_message	msg;

		decode(&msg, s);
		assert_false(msg.parse_error);
		assert_true(msg.batch);
		assert_int_equal(msg.nrequests, 2);
		assert_int_equal(msg.requests[0].error,
		    PROTO_INVALID_REQUEST);
		assert_int_equal(msg.requests[1].error,
		    PROTO_INVALID_REQUEST);
		proto_message_clear(&msg);
	}
	free(s);
	free(deep);
}

static void
test_decode_clear(void **state)
{
	struct proto_message	msg;

	decode(&msg, REQ(",\"id\":1"));
	proto_message_clear(&msg);
	assert_null(msg.root);
	assert_null(msg.requests);
	assert_int_equal(msg.nrequests, 0);
	proto_message_clear(&msg);

	decode(&msg, "not json");
	proto_message_clear(&msg);
}

/* --- proto_frame_next --- */

static int
frame(const char *buf, size_t max, size_t *linelen, size_t *used)
{
	*linelen = *used = (size_t)-1;
	return (proto_frame_next(buf, strlen(buf), max, linelen, used));
}

static void
test_frame(void **state)
{
	size_t	linelen, used;

	assert_int_equal(frame("abc\ndef", 100, &linelen, &used), 1);
	assert_int_equal(linelen, 3);
	assert_int_equal(used, 4);

	assert_int_equal(frame("abc\r\ndef\n", 100, &linelen, &used), 1);
	assert_int_equal(linelen, 3);
	assert_int_equal(used, 5);

	/* Only a "\r" right before the "\n" goes. */
	assert_int_equal(frame("a\rb\n", 100, &linelen, &used), 1);
	assert_int_equal(linelen, 3);
	assert_int_equal(used, 4);
	assert_int_equal(frame("a\r\r\n", 100, &linelen, &used), 1);
	assert_int_equal(linelen, 2);
	assert_int_equal(used, 4);

	assert_int_equal(frame("abc", 100, &linelen, &used), 0);
	assert_int_equal(frame("abc\r", 100, &linelen, &used), 0);
	assert_int_equal(frame("", 100, &linelen, &used), 0);
}

static void
test_frame_blank(void **state)
{
	assert_true(proto_frame_blank("", 0));
	assert_true(proto_frame_blank(" \t \r", 4));
	assert_false(proto_frame_blank(" x ", 3));
	assert_false(proto_frame_blank("{}", 2));
	/* A NUL byte is not whitespace: the decoder answers it. */
	assert_false(proto_frame_blank(" \0", 2));
	/* Neither is a form feed, which JSON does not allow. */
	assert_false(proto_frame_blank("\f", 1));
}

static void
test_frame_empty_line(void **state)
{
	size_t	linelen, used;

	assert_int_equal(frame("\n", 100, &linelen, &used), 1);
	assert_int_equal(linelen, 0);
	assert_int_equal(used, 1);

	assert_int_equal(frame("\r\nx\n", 100, &linelen, &used), 1);
	assert_int_equal(linelen, 0);
	assert_int_equal(used, 2);

	assert_int_equal(frame("\n", 0, &linelen, &used), 1);
	assert_int_equal(linelen, 0);
}

static void
test_frame_limit(void **state)
{
	size_t	linelen, used;

	/* Exactly max bytes: accepted, with or without "\r". */
	assert_int_equal(frame("12345678\n", 8, &linelen, &used), 1);
	assert_int_equal(linelen, 8);
	assert_int_equal(used, 9);
	assert_int_equal(frame("12345678\r\n", 8, &linelen, &used), 1);
	assert_int_equal(linelen, 8);
	assert_int_equal(used, 10);
	assert_int_equal(frame("12345678", 8, &linelen, &used), 0);

	/* max + 1: refused, whether the "\n" is here yet or not. */
	assert_int_equal(frame("123456789\n", 8, &linelen, &used), -1);
	assert_int_equal(frame("123456789\r\n", 8, &linelen, &used), -1);
	assert_int_equal(frame("123456789", 8, &linelen, &used), -1);
	assert_int_equal(frame("1234567\r\r", 8, &linelen, &used), 0);
	assert_int_equal(frame("1234567\r\r\n", 8, &linelen, &used), 1);
	assert_int_equal(linelen, 8);
	assert_int_equal(frame("123456789\nx\n", 8, &linelen, &used), -1);
	assert_int_equal(frame("1234567890", 8, &linelen, &used), -1);

	/* max + 1 bytes ending in "\r": the line may still be max long. */
	assert_int_equal(frame("12345678\r", 8, &linelen, &used), 0);
	assert_int_equal(frame("12345678\rx", 8, &linelen, &used), -1);
	assert_int_equal(frame("\r", 0, &linelen, &used), 0);
	assert_int_equal(frame("x", 0, &linelen, &used), -1);
}

static void
test_frame_sequence(void **state)
{
	const char	*buf = "a\r\n\nbb\ncc";
	size_t		 len = strlen(buf), off = 0, linelen, used;
	const char	*want[] = { "a", "", "bb" };
	int		 i;

	for (i = 0; i < 3; i++) {
		assert_int_equal(proto_frame_next(buf + off, len - off, 16,
		    &linelen, &used), 1);
		assert_int_equal(linelen, strlen(want[i]));
		assert_memory_equal(buf + off, want[i], linelen);
		off += used;
	}
	assert_int_equal(proto_frame_next(buf + off, len - off, 16, &linelen,
	    &used), 0);
	assert_int_equal(len - off, 2);
}

/* --- proto_params_check --- */

static const struct proto_param spec_misc[] = {
	{ "state", PROTO_P_STATES, 0, NULL, NULL },
	{ "signal", PROTO_P_SIGNAL, 0, NULL, NULL },
	{ "jobs", PROTO_P_JOBS, 0, NULL, NULL },
	{ "any", PROTO_P_ANY, 0, NULL, NULL },
	{ NULL, 0, 0, NULL, NULL },
};

/*
 * Checks params (JSON text, or NULL for absent) against spec. Returns
 * the result; on failure *cause must be set and, if want is not NULL, hold
 * that text.
 */
static int
check(const char *text, const struct proto_param *spec, const char *want)
{
	json_t	*params = NULL;
	char	*cause = (char *)"unset";
	int	 rc;

	if (text != NULL) {
		params = json_loads(text, JSON_DECODE_ANY, NULL);
		assert_non_null(params);
	}
	rc = proto_params_check(params, spec, &cause);
	if (rc == 0)
		assert_null(cause);
	else {
		assert_int_equal(rc, -1);
		assert_non_null(cause);
		if (want != NULL && strstr(cause, want) == NULL)
			fail_msg("cause \"%s\" lacks \"%s\"", cause, want);
		free(cause);
	}
	json_decref(params);
	return (rc);
}

static void
test_params_basic(void **state)
{
	assert_int_equal(check(NULL, proto_params_none, NULL), 0);
	assert_int_equal(check("{}", proto_params_none, NULL), 0);
	assert_int_equal(check(NULL, spec_misc, NULL), 0);
	assert_int_equal(check(NULL, proto_params_join, "'job' is required"), -1);
	assert_int_equal(check("{}", proto_params_join, "'job' is required"), -1);
	assert_int_equal(check("{\"job\":1}", proto_params_join, NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":2.5}", proto_params_join,
	    NULL), 0);

	/* Not an object. */
	assert_int_equal(check("[1]", proto_params_join, "object"), -1);
	assert_int_equal(check("[]", proto_params_none, "object"), -1);
	assert_int_equal(check("1", proto_params_none, "object"), -1);

	/* Unknown member. */
	assert_int_equal(check("{\"job\":1,\"bogus\":1}", proto_params_join,
	    "'bogus' is not a known param"), -1);
	assert_int_equal(check("{\"x\":null}", proto_params_none, "'x'"), -1);
	assert_int_equal(check("{\"Job\":1}", proto_params_join, "'Job'"), -1);
}

static void
test_params_null(void **state)
{
	/* null counts as absent. */
	assert_int_equal(check("{\"job\":1,\"timeout\":null}", proto_params_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":null}", proto_params_join,
	    "'job' is required"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":null,\"env\":null,"
	    "\"cwd\":null,\"daemon\":null,\"parent\":null,\"stop_timeout\":"
	    "null,\"output\":null,\"log_limit\":null}", proto_params_start, NULL), 0);
	assert_int_equal(check("{\"state\":null,\"signal\":null,\"jobs\":null,"
	    "\"any\":null}", spec_misc, NULL), 0);
}

static void
test_params_job(void **state)
{
	assert_int_equal(check("{\"job\":1}", proto_params_join, NULL), 0);
	assert_int_equal(check("{\"job\":\"web\"}", proto_params_join, NULL), 0);
	assert_int_equal(check("{\"job\":1.5}", proto_params_join, "'job'"), -1);
	assert_int_equal(check("{\"job\":true}", proto_params_join, "'job'"), -1);
	assert_int_equal(check("{\"job\":[1]}", proto_params_join, "'job'"), -1);
	assert_int_equal(check("{\"job\":{}}", proto_params_join, "'job'"), -1);
}

static void
test_params_seconds(void **state)
{
	assert_int_equal(check("{\"job\":1,\"timeout\":0}", proto_params_join, NULL),
	    0);
	assert_int_equal(check("{\"job\":1,\"timeout\":0.0}", proto_params_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":0.001}", proto_params_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":1000000000}", proto_params_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":1e9}", proto_params_join, NULL),
	    0);
	assert_int_equal(check("{\"job\":1,\"timeout\":-1}", proto_params_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":-0.001}", proto_params_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":1000000001}",
	    proto_params_join, "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":1.0000001e9}",
	    proto_params_join, "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":1e308}", proto_params_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":\"1\"}", proto_params_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":true}", proto_params_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"stop_timeout\":-5}",
	    proto_params_start, "'stop_timeout'"), -1);
}

static void
test_params_types(void **state)
{
	/* argv */
	assert_int_equal(check("{\"argv\":[\"sleep\",\"1\"]}", proto_params_start,
	    NULL), 0);
	assert_int_equal(check("{\"argv\":[\"\"]}", proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[]}", proto_params_start, "'argv'"), -1);
	assert_int_equal(check("{\"argv\":[\"a\",1]}", proto_params_start, "'argv'"),
	    -1);
	assert_int_equal(check("{\"argv\":[\"a\",null]}", proto_params_start,
	    "'argv'"), -1);
	assert_int_equal(check("{\"argv\":\"sleep 1\"}", proto_params_start, "'argv'"),
	    -1);
	assert_int_equal(check("{\"name\":\"x\"}", proto_params_start,
	    "'argv' is required"), -1);

	/* bool */
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":true}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":false}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":1}", proto_params_start,
	    "'daemon'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":\"true\"}",
	    proto_params_start, "'daemon'"), -1);

	/* path */
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"/\"}", proto_params_start,
	    NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"/tmp/x\"}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"tmp\"}",
	    proto_params_start, "'cwd'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"\"}", proto_params_start,
	    "'cwd'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":1}", proto_params_start,
	    "'cwd'"), -1);

	/* string */
	assert_int_equal(check("{\"argv\":[\"x\"],\"output\":\"null\"}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"output\":1}", proto_params_start,
	    "'output'"), -1);

	/* uint */
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":0}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":262144}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":-1}",
	    proto_params_start, "'log_limit'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":1.5}",
	    proto_params_start, "'log_limit'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":\"1\"}",
	    proto_params_start, "'log_limit'"), -1);

	/* parent is a JOB */
	assert_int_equal(check("{\"argv\":[\"x\"],\"parent\":\"web\"}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"parent\":false}",
	    proto_params_start, "'parent'"), -1);

	/* jobs */
	assert_int_equal(check("{\"jobs\":[1,\"web\"]}", spec_misc, NULL), 0);
	assert_int_equal(check("{\"jobs\":[]}", spec_misc, NULL), 0);
	assert_int_equal(check("{\"jobs\":[true]}", spec_misc, "'jobs'"), -1);
	assert_int_equal(check("{\"jobs\":[null]}", spec_misc, "'jobs'"), -1);
	assert_int_equal(check("{\"jobs\":1}", spec_misc, "'jobs'"), -1);

	/* states */
	assert_int_equal(check("{\"state\":\"running\"}", spec_misc, NULL), 0);
	assert_int_equal(check("{\"state\":[\"waiting\",\"exited\"]}",
	    spec_misc, NULL), 0);
	assert_int_equal(check("{\"state\":\"bogus\"}", spec_misc, "'state'"),
	    -1);
	assert_int_equal(check("{\"state\":[\"running\",1]}", spec_misc,
	    "'state'"), -1);
	assert_int_equal(check("{\"state\":1}", spec_misc, "'state'"), -1);

	/* signal */
	assert_int_equal(check("{\"signal\":\"HUP\"}", spec_misc, NULL), 0);
	assert_int_equal(check("{\"signal\":9}", spec_misc, NULL), 0);
	assert_int_equal(check("{\"signal\":0}", spec_misc, "'signal'"), -1);
	assert_int_equal(check("{\"signal\":\"nope\"}", spec_misc, "'signal'"),
	    -1);

	/* any */
	assert_int_equal(check("{\"any\":{\"x\":[1,\"y\"]}}", spec_misc, NULL),
	    0);
	assert_int_equal(check("{\"any\":false}", spec_misc, NULL), 0);
}

static void
test_params_env(void **state)
{
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{}}", proto_params_start,
	    NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A\":\"1\","
	    "\"B\":null,\"C\":\"\",\"D\":\"x=y\"}}", proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A=B\":\"x\"}}",
	    proto_params_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"=\":\"x\"}}",
	    proto_params_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"\":\"x\"}}",
	    proto_params_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A\":1}}",
	    proto_params_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A\":[]}}",
	    proto_params_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":[\"A=1\"]}",
	    proto_params_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":\"A=1\"}",
	    proto_params_start, "'env'"), -1);
}

static void
test_params_name(void **state)
{
	char	name[80], *text;

	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"web\"}",
	    proto_params_start, NULL), 0);

	memset(name, 'a', 64);
	name[64] = '\0';
	assert_int_equal(asprintf(&text, "{\"argv\":[\"x\"],\"name\":\"%s\"}",
	    name) == -1, 0);
	assert_int_equal(check(text, proto_params_start, NULL), 0);
	free(text);
	assert_true(proto_name_valid(name));

	name[64] = 'a';
	name[65] = '\0';
	assert_int_equal(asprintf(&text, "{\"argv\":[\"x\"],\"name\":\"%s\"}",
	    name) == -1, 0);
	assert_int_equal(check(text, proto_params_start, "'name'"), -1);
	free(text);
	assert_false(proto_name_valid(name));

	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"123\"}",
	    proto_params_start, "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"job-12\"}",
	    proto_params_start, "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"job-x\"}",
	    proto_params_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"\"}", proto_params_start,
	    "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"a b\"}",
	    proto_params_start, "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":7}", proto_params_start,
	    "'name'"), -1);

	assert_true(proto_name_valid("a"));
	assert_true(proto_name_valid("Az09._@:-"));
	assert_true(proto_name_valid("web@1:worker-2.x_y"));
	assert_true(proto_name_valid("-"));
	assert_true(proto_name_valid("job-"));
	assert_true(proto_name_valid("job-x"));
	assert_true(proto_name_valid("job-1x"));
	assert_true(proto_name_valid("job-12-"));
	assert_true(proto_name_valid("Job-12"));
	assert_true(proto_name_valid("xjob-12"));
	assert_true(proto_name_valid("1a"));
	assert_true(proto_name_valid("1.5"));
	assert_false(proto_name_valid(""));
	assert_false(proto_name_valid("0"));
	assert_false(proto_name_valid("1234567890"));
	assert_false(proto_name_valid("job-0"));
	assert_false(proto_name_valid("job-12"));
	assert_false(proto_name_valid("job-0123456789"));
	assert_false(proto_name_valid("a b"));
	assert_false(proto_name_valid("a/b"));
	assert_false(proto_name_valid("a\tb"));
	assert_false(proto_name_valid("a\nb"));
	assert_false(proto_name_valid("a+b"));
	assert_false(proto_name_valid("a*"));
	assert_false(proto_name_valid("\xc3\xa9"));
	assert_false(proto_name_valid("a\""));
}

/* --- proto_states_mask --- */

static int
mask(const char *text, int want_cause)
{
	json_t	*v;
	char	*cause = NULL;
	int	 m;

	v = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(v);
	m = proto_states_mask(v, want_cause ? &cause : NULL);
	if (m == -1 && want_cause) {
		assert_non_null(cause);
		assert_non_null(strstr(cause, "state"));
	} else
		assert_null(cause);
	free(cause);
	json_decref(v);
	return (m);
}

static void
test_states_mask(void **state)
{
	assert_int_equal(mask("\"running\"", 1), 1 << PROTO_RUNNING);
	assert_int_equal(mask("\"stopping\"", 1), 1 << PROTO_STOPPING_STATE);
	assert_int_equal(mask("\"waiting\"", 1), 1 << PROTO_WAITING);
	assert_int_equal(mask("\"exited\"", 1), 1 << PROTO_EXITED);
	assert_int_equal(mask("[\"running\",\"waiting\"]", 1),
	    1 << PROTO_RUNNING | 1 << PROTO_WAITING);
	assert_int_equal(mask("[\"exited\",\"exited\"]", 1), 1 << PROTO_EXITED);
	assert_int_equal(mask("\"restarting\"", 1), 1 << PROTO_RESTARTING);
	assert_int_equal(mask("[\"running\",\"stopping\",\"restarting\","
	    "\"waiting\",\"exited\"]", 1), 0x1f);
	assert_int_equal(mask("[]", 1), 0);
	assert_int_equal(mask("\"bogus\"", 1), -1);
	assert_int_equal(mask("\"Running\"", 1), -1);
	assert_int_equal(mask("\"\"", 1), -1);
	assert_int_equal(mask("[\"running\",\"bogus\"]", 1), -1);
	assert_int_equal(mask("[\"running\",null]", 1), -1);
	assert_int_equal(mask("[[\"running\"]]", 1), -1);
	assert_int_equal(mask("1", 1), -1);
	assert_int_equal(mask("null", 1), -1);
	assert_int_equal(mask("{}", 1), -1);
	assert_int_equal(mask("\"bogus\"", 0), -1);
}

/* --- signals --- */

static int
sig(const char *text)
{
	json_t	*v;
	int	 signo;

	v = json_loads(text, JSON_DECODE_ANY, NULL);
	assert_non_null(v);
	signo = proto_signal_parse(v);
	json_decref(v);
	return (signo);
}

static void
test_signal_parse(void **state)
{
	assert_int_equal(sig("\"HUP\""), SIGHUP);
	assert_int_equal(sig("\"sighup\""), SIGHUP);
	assert_int_equal(sig("\"SIGUSR1\""), SIGUSR1);
	assert_int_equal(sig("\"usr2\""), SIGUSR2);
	assert_int_equal(sig("\"SigTerm\""), SIGTERM);
	assert_int_equal(sig("\"KILL\""), SIGKILL);
	assert_int_equal(sig("\"CHLD\""), SIGCHLD);
	assert_int_equal(sig("9"), 9);
	assert_int_equal(sig("1"), 1);
	assert_int_equal(sig("64"), 64);
	assert_int_equal(sig("0"), -1);
	assert_int_equal(sig("65"), -1);
	assert_int_equal(sig("-9"), -1);
	assert_int_equal(sig("4294967305"), -1);
	assert_int_equal(sig("1.5"), -1);
	assert_int_equal(sig("9.0"), -1);
	assert_int_equal(sig("\"9\""), -1);
	assert_int_equal(sig("\"nope\""), -1);
	assert_int_equal(sig("\"\""), -1);
	assert_int_equal(sig("\"SIG\""), -1);
	assert_int_equal(sig("\"SIGSIGHUP\""), -1);
	assert_int_equal(sig("\"HUP \""), -1);
	assert_int_equal(sig("true"), -1);
	assert_int_equal(sig("null"), -1);
	assert_int_equal(sig("[9]"), -1);

	assert_int_equal(sig("\"RTMIN\""), SIGRTMIN);
	assert_int_equal(sig("\"RTMIN+1\""), SIGRTMIN + 1);
	assert_int_equal(sig("\"sigrtmin+2\""), SIGRTMIN + 2);
	assert_int_equal(sig("\"RTMAX\""), SIGRTMAX);
	assert_int_equal(sig("\"RTMAX-1\""), SIGRTMAX - 1);
	assert_int_equal(sig("\"RTMIN+0\""), SIGRTMIN);
	assert_int_equal(sig("\"RTMAX-0\""), SIGRTMAX);
	assert_int_equal(sig("\"RTMIN-1\""), -1);
	assert_int_equal(sig("\"RTMAX+1\""), -1);
	assert_int_equal(sig("\"RTMIN+\""), -1);
	assert_int_equal(sig("\"RTMIN+x\""), -1);
	assert_int_equal(sig("\"RTMIN+1x\""), -1);
	assert_int_equal(sig("\"RTMIN++1\""), -1);
	assert_int_equal(sig("\"RTMIN+-1\""), -1);
	assert_int_equal(sig("\"RTMIN+99\""), -1);
	assert_int_equal(sig("\"RTMIN+99999999999999999999999\""), -1);

	assert_int_equal(proto_signal_from_name("TERM"), SIGTERM);
	assert_int_equal(proto_signal_from_name("sigint"), SIGINT);
	assert_int_equal(proto_signal_from_name("nope"), -1);
	assert_string_equal(proto_signal_name(SIGTERM), "TERM");
	assert_string_equal(proto_signal_name(SIGKILL), "KILL");

	/* Names sigabbrev_np does not know. */
	assert_int_equal(proto_signal_from_name("SIGIO"), SIGIO);
	assert_int_equal(proto_signal_from_name("io"), SIGIO);
	assert_int_equal(proto_signal_from_name("POLL"), SIGPOLL);
	assert_int_equal(proto_signal_from_name("CLD"), SIGCHLD);
	assert_int_equal(proto_signal_from_name("SIGIOT"), SIGABRT);
	assert_int_equal(proto_signal_from_name("IOX"), -1);
	assert_string_equal(proto_signal_name(SIGIO), "IO");
}

/* --- proto_socket_path --- */

static void
expect_path(const char *option, const char *want)
{
	char	*path;

	path = proto_socket_path(option);
	assert_non_null(path);
	assert_string_equal(path, want);
	free(path);
}

static void
test_socket_path(void **state)
{
	char	want[128];

	setenv("PROCD_SOCKET", "/env/procd.sock", 1);
	setenv("XDG_RUNTIME_DIR", "/xdg", 1);
	expect_path("/opt/s.sock", "/opt/s.sock");
	expect_path("relative.sock", "relative.sock");
	expect_path(NULL, "/env/procd.sock");
	expect_path("", "/env/procd.sock");

	setenv("PROCD_SOCKET", "", 1);
	if (getuid() == 0)
		expect_path(NULL, "/run/procd/procd.sock");
	else
		expect_path(NULL, "/xdg/procd/procd.sock");

	unsetenv("PROCD_SOCKET");
	if (getuid() == 0) {
		expect_path(NULL, "/run/procd/procd.sock");
		unsetenv("XDG_RUNTIME_DIR");
		expect_path(NULL, "/run/procd/procd.sock");
		return;
	}
	expect_path(NULL, "/xdg/procd/procd.sock");
	expect_path("/opt/s.sock", "/opt/s.sock");

	snprintf(want, sizeof want, "/tmp/procd-%u/procd.sock",
	    (unsigned)getuid());
	unsetenv("XDG_RUNTIME_DIR");
	expect_path(NULL, want);
	setenv("XDG_RUNTIME_DIR", "", 1);
	expect_path(NULL, want);
	unsetenv("XDG_RUNTIME_DIR");
}

/* --- envelopes --- */

/* Encodes msg (and drops it); checks the line ends in exactly one "\n". */
static void
expect_encoded(json_t *msg, const char *want)
{
	char	*line;
	size_t	 len = 0;

	assert_non_null(msg);
	line = proto_encode(msg, &len);
	assert_non_null(line);
	assert_int_equal(len, strlen(line));
	assert_true(len > 0);
	assert_int_equal(line[len - 1], '\n');
	assert_ptr_equal(strchr(line, '\n'), line + len - 1);
	assert_string_equal(line, want);
	free(line);
	json_decref(msg);
}

static void
test_encode(void **state)
{
	json_t	*v;
	char	*line;

	v = json_pack("{s:s, s:[i, s], s:{s:b}}", "a", "x y", "b", 1, "c\nd",
	    "e", "f", 1);
	expect_encoded(v, "{\"a\":\"x y\",\"b\":[1,\"c\\nd\"],"
	    "\"e\":{\"f\":true}}\n");
	expect_encoded(json_integer(42), "42\n");
	expect_encoded(json_real(0.1), "0.1\n");
	expect_encoded(json_string("\xc3\xa9"), "\"\xc3\xa9\"\n");

	/* len may be NULL. */
	v = json_object();
	line = proto_encode(v, NULL);
	assert_string_equal(line, "{}\n");
	free(line);
	json_decref(v);
}

static void
test_result_new(void **state)
{
	json_t	*id, *msg;

	id = json_integer(5);
	msg = proto_result_new(id, json_pack("{s:i}", "a", 1));
	assert_non_null(msg);
	/* The envelope took its own reference to id. */
	assert_int_equal(id->refcount, 2);
	assert_ptr_equal(json_object_get(msg, "id"), id);
	json_decref(id);
	assert_int_equal(json_object_size(msg), 3);
	expect_encoded(msg, "{\"jsonrpc\":\"2.0\",\"id\":5,"
	    "\"result\":{\"a\":1}}\n");

	expect_encoded(proto_result_new(NULL, NULL),
	    "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":null}\n");

	id = json_string("req-1");
	expect_encoded(proto_result_new(id, json_true()),
	    "{\"jsonrpc\":\"2.0\",\"id\":\"req-1\",\"result\":true}\n");
	assert_int_equal(id->refcount, 1);
	json_decref(id);
}

static void
test_error_new(void **state)
{
	json_t	*id, *msg, *error;

	msg = proto_error_new(NULL, PROTO_PARSE_ERROR, NULL, NULL);
	assert_non_null(msg);
	assert_true(json_is_null(json_object_get(msg, "id")));
	assert_null(json_object_get(msg, "result"));
	error = json_object_get(msg, "error");
	assert_true(json_is_object(error));
	assert_int_equal(json_object_size(error), 2);
	assert_int_equal(json_integer_value(json_object_get(error, "code")),
	    PROTO_PARSE_ERROR);
	assert_string_equal(json_string_value(json_object_get(error,
	    "message")), "Parse error");
	expect_encoded(msg, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":"
	    "{\"code\":-32700,\"message\":\"Parse error\"}}\n");

	id = json_string("x");
	expect_encoded(proto_error_new(id, PROTO_JOB_RUNNING, NULL, NULL),
	    "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"error\":{\"code\":-32002,"
	    "\"message\":\"job is still running; join or terminate it "
	    "first\"}}\n");
	assert_int_equal(id->refcount, 1);
	json_decref(id);

	id = json_integer(3);
	expect_encoded(proto_error_new(id, PROTO_INVALID_PARAMS,
	    "invalid params: 'x' is not a known param", json_string("x")),
	    "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,"
	    "\"message\":\"invalid params: 'x' is not a known param\","
	    "\"data\":\"x\"}}\n");
	json_decref(id);

	expect_encoded(proto_error_new(json_null(), 1, NULL, NULL),
	    "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":1,"
	    "\"message\":\"error\"}}\n");
}

static void
test_request_new(void **state)
{
	json_t	*id;

	id = json_integer(1);
	expect_encoded(proto_request_new("status", json_pack("{s:i}", "job",
	    2), id), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"status\","
	    "\"params\":{\"job\":2}}\n");
	json_decref(id);

	id = json_integer(2);
	expect_encoded(proto_request_new("info", NULL, id),
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"info\"}\n");
	json_decref(id);

	expect_encoded(proto_notification_new("log", json_pack("{s:i}", "job",
	    1)), "{\"jsonrpc\":\"2.0\",\"method\":\"log\",\"params\":"
	    "{\"job\":1}}\n");
	expect_encoded(proto_notification_new("ping", NULL),
	    "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}\n");
}

/* What we encode decodes back as a valid request. */
static void
test_encode_decode(void **state)
{
	struct proto_message	 msg;
	struct proto_request	*req;
	json_t			*v, *id;
	char			*line, *cause;
	size_t			 len, linelen, used;

	id = json_string("r");
	v = proto_request_new("join", json_pack("{s:s, s:f}", "job", "web",
	    "timeout", 1.5), id);
	json_decref(id);
	line = proto_encode(v, &len);
	json_decref(v);
	assert_int_equal(proto_frame_next(line, len, PROTO_MAX_REQUEST,
	    &linelen, &used), 1);
	assert_int_equal(used, len);
	req = decode_one(&msg, line);
	assert_int_equal(req->error, 0);
	assert_string_equal(req->method, "join");
	assert_id_string(req->id, "r");
	assert_int_equal(proto_params_check(req->params, proto_params_join, &cause), 0);
	assert_null(cause);
	proto_message_clear(&msg);
	free(line);
}

/* --- proto_job_exit_status --- */

static int
exit_status(const char *text)
{
	json_t	*job;
	int	 status;

	job = json_loads(text, 0, NULL);
	assert_non_null(job);
	status = proto_job_exit_status(job);
	json_decref(job);
	return (status);
}

static void
test_job_exit_status(void **state)
{
	assert_int_equal(exit_status("{\"exitcode\":3}"), 3);
	assert_int_equal(exit_status("{\"exitcode\":0}"), 0);
	assert_int_equal(exit_status("{\"exitcode\":255}"), 255);
	assert_int_equal(exit_status("{\"exitcode\":-9}"), 137);
	assert_int_equal(exit_status("{\"exitcode\":-15}"), 143);
	assert_int_equal(exit_status("{\"exitcode\":null}"), -1);
	assert_int_equal(exit_status("{}"), -1);
	assert_int_equal(exit_status("{\"exitcode\":\"3\"}"), -1);
	assert_int_equal(exit_status("{\"exitcode\":null,\"timed_out\":true}"),
	    124);
	assert_int_equal(exit_status("{\"exitcode\":3,\"timed_out\":true}"),
	    124);
	assert_int_equal(exit_status("{\"exitcode\":3,\"timed_out\":false}"),
	    3);
	assert_int_equal(exit_status("{\"state\":\"running\",\"exitcode\":"
	    "null,\"timed_out\":false}"), -1);
}

/* --- codes and states --- */

static void
test_code_message(void **state)
{
	assert_string_equal(proto_code_message(PROTO_PARSE_ERROR),
	    "Parse error");
	assert_string_equal(proto_code_message(PROTO_INVALID_REQUEST),
	    "Invalid Request");
	assert_string_equal(proto_code_message(PROTO_METHOD_NOT_FOUND),
	    "Method not found");
	assert_string_equal(proto_code_message(PROTO_INVALID_PARAMS),
	    "Invalid params");
	assert_string_equal(proto_code_message(PROTO_INTERNAL_ERROR),
	    "Internal error");
	assert_string_equal(proto_code_message(PROTO_JOB_NOT_FOUND),
	    "job not found");
	assert_string_equal(proto_code_message(PROTO_JOB_RUNNING),
	    "job is still running; join or terminate it first");
	assert_string_equal(proto_code_message(PROTO_NAME_IN_USE),
	    "name in use");
	assert_string_equal(proto_code_message(PROTO_PERMISSION),
	    "permission denied");
	assert_string_equal(proto_code_message(PROTO_SPAWN_FAILED),
	    "spawn failed");
	assert_string_equal(proto_code_message(PROTO_INVALID_PARENT),
	    "invalid parent");
	assert_string_equal(proto_code_message(PROTO_LIMIT), "limit reached");
	assert_string_equal(proto_code_message(PROTO_STOPPING),
	    "procd is stopping");
	assert_string_equal(proto_code_message(0), "error");
	assert_string_equal(proto_code_message(-32000), "error");
}

static void
test_state_names(void **state)
{
	int	i;

	assert_string_equal(proto_state_name(PROTO_RUNNING), "running");
	assert_string_equal(proto_state_name(PROTO_STOPPING_STATE),
	    "stopping");
	assert_string_equal(proto_state_name(PROTO_RESTARTING),
	    "restarting");
	assert_string_equal(proto_state_name(PROTO_WAITING), "waiting");
	assert_string_equal(proto_state_name(PROTO_EXITED), "exited");
	assert_string_equal(proto_state_name(PROTO_NSTATES), "unknown");
	assert_string_equal(proto_state_name((enum proto_state)-1),
	    "unknown");
	for (i = 0; i < PROTO_NSTATES; i++)
		assert_int_equal(proto_state_parse(proto_state_name(i)), i);
	assert_int_equal(proto_state_parse("bogus"), -1);
	assert_int_equal(proto_state_parse(""), -1);
	assert_int_equal(proto_state_parse("EXITED"), -1);
}

/* --- proto_utf8_decode --- */

/* A byte string and its length, for strings that may hold NUL. */
#define B(s)	(s), sizeof(s) - 1
/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
#define R	"\xef\xbf\xbd"

struct utf8_case {
	const char	*in;
	size_t		 inlen;
	const char	*out;
	size_t		 outlen;
};

/*
 * Expected values generated once, offline, with /usr/bin/python3 (3.11):
 * out = in.decode('utf-8', 'replace').encode('utf-8').
 */
static const struct utf8_case utf8_cases[] = {
	{ B(""), B("") },
	{ B("hello, world"), B("hello, world") },
	{ B("\x00\x1f\x7f"), B("\x00\x1f\x7f") },
	{ B("\xc3\xa9"), B("\xc3\xa9") },
	{ B("\xe2\x82\xac"), B("\xe2\x82\xac") },
	{ B("\xf0\x9f\x98\x80"), B("\xf0\x9f\x98\x80") },
	{ B("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"),
	    B("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z") },
	{ B("\xc2\x80\xc2\x85\xc2\x9f"), B("\xc2\x80\xc2\x85\xc2\x9f") },
	{ B("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd"),
	    B("\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80" R) },
	{ B("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"),
	    B("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf") },
	{ B("\x80"), B(R) },
	{ B("\xbf\x80\x85\x9f"), B(R R R R) },
	{ B("a\x80" "b"), B("a" R "b") },
	{ B("\xc0\xaf"), B(R R) },
	{ B("\xc1\xbf"), B(R R) },
	{ B("\xf5\x80\x80\x80"), B(R R R R) },
	{ B("\xf8\x88\x80\x80\x80"), B(R R R R R) },
	{ B("\xfe\xff"), B(R R) },
	{ B("\xe0\x80\x80"), B(R R R) },
	{ B("\xe0\x9f\xbf"), B(R R R) },
	{ B("\xf0\x80\x80\x80"), B(R R R R) },
	{ B("\xf0\x8f\xbf\xbf"), B(R R R R) },
	{ B("\xed\xa0\x80"), B(R R R) },
	{ B("\xed\xbf\xbf\xed\xa0\x80\xed\xb0\x80"), B(R R R R R R R R R) },
	{ B("\xf4\x90\x80\x80"), B(R R R R) },
	{ B("\xf4\xbf\xbf\xbf"), B(R R R R) },
	{ B("\xc3" "A"), B(R "A") },
	{ B("\xe2\x82" "A"), B(R "A") },
	{ B("\xe2" "A"), B(R "A") },
	{ B("\xf0\x9f\x98" "A"), B(R "A") },
	{ B("\xf0\x9f" "A"), B(R "A") },
	{ B("\xf0" "A"), B(R "A") },
	{ B("\xe2\x82\xe2\x82\xac"), B(R "\xe2\x82\xac") },
	{ B("\xc3\xc3\xa9"), B(R "\xc3\xa9") },
	{ B("a\xf1\x80\x80\xe1\x80\xc2" "b\x80" "c\x80\xbf" "d"),
	    B("a" R R R "b" R "c" R R "d") },
	{ B("\xe1\x80\xe2\xf0\x91\x92\xf1\xbf" "A"), B(R R R R "A") },
	{ B("\xc2"), B(R) },
	{ B("\xe2\x82"), B(R) },
	{ B("\xf0\x9f\x98"), B(R) },
	{ B("ab\xf4\x8f\xbf"), B("ab" R) },
};

/*
 * A character split between two calls, the first not final: what each
 * call returns. Generated offline with /usr/bin/python3 (3.11) from
 * codecs.getincrementaldecoder('utf-8')('replace'): decode(first, False),
 * then decode(second, True).
 */
struct utf8_split {
	const char	*first;
	size_t		 firstlen;
	const char	*out1;
	size_t		 out1len;
	const char	*second;
	size_t		 secondlen;
	const char	*out2;
	size_t		 out2len;
};

static const struct utf8_split utf8_splits[] = {
	{ B("\xe2"), B(""), B("\x82\xac"), B("\xe2\x82\xac") },
	{ B("\xe2\x82"), B(""), B("\xac"), B("\xe2\x82\xac") },
	{ B("\xf0\x9f"), B(""), B("\x98\x80!"), B("\xf0\x9f\x98\x80!") },
	{ B("x\xf0\x9f\x98"), B("x"), B("\x80"), B("\xf0\x9f\x98\x80") },
	{ B("\xc3"), B(""), B("A"), B(R "A") },
	{ B("\xf0\x9f\x98"), B(""), B("A"), B(R "A") },
	{ B("\xe0"), B(""), B("\x80"), B(R R) },
	{ B("\xed"), B(""), B("\xa0\x80"), B(R R R) },
	{ B("\xf4"), B(""), B("\x90"), B(R R) },
	{ B("\xe2\x82"), B(""), B(""), B(R) },
};

/* Bytes past an output bound that must stay untouched. */
#define GUARD	16

/*
 * Decodes len bytes in one call into a buffer of exactly
 * proto_utf8_bound(len) bytes (plus a guard that must stay untouched).
 * Returns the length and leaves the text in *outp (to free).
 */
static size_t
utf8_decode_once(struct proto_utf8 *st, const void *in, size_t len,
    int final, char **outp)
{
	size_t	 bound = proto_utf8_bound(len), n, i;
	char	*out;

	out = malloc(bound + GUARD);
	assert_non_null(out);
	memset(out, 0x5a, bound + GUARD);
	n = proto_utf8_decode(st, in, len, final, out);
	assert_true(n <= bound);
	for (i = bound; i < bound + GUARD; i++)
		assert_int_equal(out[i], 0x5a);
	*outp = out;
	return (n);
}

static void
expect_utf8(const char *in, size_t inlen, const char *want, size_t wantlen)
{
	struct proto_utf8	 st;
	char			*out, *all;
	size_t			 n, k, total;

	/* In one final call. */
	memset(&st, 0, sizeof st);
	n = utf8_decode_once(&st, in, inlen, 1, &out);
	assert_int_equal(n, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(st.have, 0);
	free(out);

	/* A byte at a time, then an empty final call: the same text. */
	all = malloc(wantlen + 1);
	assert_non_null(all);
	memset(&st, 0, sizeof st);
	total = 0;
	for (k = 0; k < inlen; k++) {
		n = utf8_decode_once(&st, in + k, 1, 0, &out);
		assert_true(total + n <= wantlen);
		memcpy(all + total, out, n);
		total += n;
		free(out);
	}
	n = utf8_decode_once(&st, in, 0, 1, &out);
	assert_true(total + n <= wantlen);
	memcpy(all + total, out, n);
	total += n;
	free(out);
	assert_int_equal(total, wantlen);
	assert_memory_equal(all, want, wantlen);
	assert_int_equal(st.have, 0);
	free(all);
}

static void
test_utf8_python(void **state)
{
	size_t	i;

	assert_true(sizeof utf8_cases / sizeof utf8_cases[0] >= 20);
	for (i = 0; i < sizeof utf8_cases / sizeof utf8_cases[0]; i++)
		expect_utf8(utf8_cases[i].in, utf8_cases[i].inlen,
		    utf8_cases[i].out, utf8_cases[i].outlen);
}

static void
test_utf8_split(void **state)
{
	const struct utf8_split	*c;
	struct proto_utf8	 st;
	char			*out;
	size_t			 i, n;

	for (i = 0; i < sizeof utf8_splits / sizeof utf8_splits[0]; i++) {
		c = &utf8_splits[i];
		memset(&st, 0, sizeof st);
		n = utf8_decode_once(&st, c->first, c->firstlen, 0, &out);
		assert_int_equal(n, c->out1len);
		assert_memory_equal(out, c->out1, n);
		free(out);
		n = utf8_decode_once(&st, c->second, c->secondlen, 1, &out);
		assert_int_equal(n, c->out2len);
		assert_memory_equal(out, c->out2, n);
		assert_int_equal(st.have, 0);
		free(out);
	}
}

/* An incomplete sequence at the end is held until a later call. */
static void
test_utf8_held(void **state)
{
	struct proto_utf8	 st;
	char			*out;
	size_t			 n;

	/* Held through any number of non-final calls, even empty ones. */
	memset(&st, 0, sizeof st);
	n = utf8_decode_once(&st, "ab\xf0\x9f", 4, 0, &out);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "ab", 2);
	free(out);
	n = utf8_decode_once(&st, "", 0, 0, &out);
	assert_int_equal(n, 0);
	free(out);
	n = utf8_decode_once(&st, "\x98", 1, 0, &out);
	assert_int_equal(n, 0);
	free(out);
	n = utf8_decode_once(&st, "\x80\xe2", 2, 0, &out);
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\xf0\x9f\x98\x80", 4);
	free(out);
	/* The end of the stream: one U+FFFD for what is held. */
	n = utf8_decode_once(&st, "", 0, 1, &out);
	assert_int_equal(n, 3);
	assert_memory_equal(out, R, 3);
	free(out);
	assert_int_equal(st.have, 0);
	n = utf8_decode_once(&st, "", 0, 1, &out);
	assert_int_equal(n, 0);
	free(out);

	/* A final call ends a held sequence whatever it brings. */
	memset(&st, 0, sizeof st);
	n = utf8_decode_once(&st, "\xf4\x8f\xbf", 3, 0, &out);
	assert_int_equal(n, 0);
	free(out);
	n = utf8_decode_once(&st, "\xbfz\xc3", 3, 1, &out);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "\xf4\x8f\xbf\xbfz" R, 8);
	free(out);
	assert_int_equal(st.have, 0);
}

/* The bound holds when a held sequence meets bytes that all fail. */
static void
test_utf8_bound(void **state)
{
	struct proto_utf8	 st;
	unsigned char		 in[64];
	char			*out;
	size_t			 len, n;

	for (len = 0; len < sizeof in; len++) {
		memset(&st, 0, sizeof st);
		n = utf8_decode_once(&st, "\xf0\x9f\x98", 3, 0, &out);
		assert_int_equal(n, 0);
		free(out);
		memset(in, 0xff, len);
		n = utf8_decode_once(&st, in, len, 1, &out);
		assert_int_equal(n, 3 * (len + 1));
		free(out);
	}
	/* A held sequence completed by the only byte of a call. */
	memset(&st, 0, sizeof st);
	n = utf8_decode_once(&st, "\xf0\x9f\x98", 3, 0, &out);
	free(out);
	n = utf8_decode_once(&st, "\x80", 1, 0, &out);
	assert_int_equal(n, 4);
	free(out);
}

/*
 * A reference decoder for the exhaustive checks, built another way: every
 * scalar value (U+0000..U+10FFFF less the surrogates) is encoded, and each
 * encoding and its prefixes are recorded. At each position the maximal
 * subpart is the longest run of bytes that begins some encoding.
 */
struct utf8_ref {
	/* Bitmaps over 1- to 3-byte strings, indexed by length. */
	unsigned char	*prefix[4];
	unsigned char	*whole[4];
	uint32_t	*four;		/* 4-byte encodings, ascending */
	size_t		 nfour;
};

#define REF_SET(map, i)	((map)[(i) >> 3] |= 1 << ((i) & 7))
#define REF_GET(map, i)	(((map)[(i) >> 3] >> ((i) & 7)) & 1)

static size_t
ref_encode(uint32_t cp, unsigned char *b)
{
	if (cp < 0x80) {
		b[0] = cp;
		return (1);
	}
	if (cp < 0x800) {
		b[0] = 0xc0 | cp >> 6;
		b[1] = 0x80 | (cp & 0x3f);
		return (2);
	}
	if (cp < 0x10000) {
		b[0] = 0xe0 | cp >> 12;
		b[1] = 0x80 | (cp >> 6 & 0x3f);
		b[2] = 0x80 | (cp & 0x3f);
		return (3);
	}
	b[0] = 0xf0 | cp >> 18;
	b[1] = 0x80 | (cp >> 12 & 0x3f);
	b[2] = 0x80 | (cp >> 6 & 0x3f);
	b[3] = 0x80 | (cp & 0x3f);
	return (4);
}

static uint32_t
ref_key(const unsigned char *b, size_t k)
{
	uint32_t	key = 0;
	size_t		i;

	for (i = 0; i < k; i++)
		key = key << 8 | b[i];
	return (key);
}

static void
ref_init(struct utf8_ref *ref)
{
	unsigned char	b[4];
	uint32_t	cp;
	size_t		n, k;

	memset(ref, 0, sizeof *ref);
	for (k = 1; k <= 3; k++) {
		ref->prefix[k] = calloc(1, ((size_t)1 << (8 * k)) / 8);
		ref->whole[k] = calloc(1, ((size_t)1 << (8 * k)) / 8);
		assert_non_null(ref->prefix[k]);
		assert_non_null(ref->whole[k]);
	}
	ref->four = calloc(0x100000, sizeof *ref->four);
	assert_non_null(ref->four);
	for (cp = 0; cp <= 0x10ffff; cp++) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		n = ref_encode(cp, b);
		for (k = 1; k <= n && k <= 3; k++)
			REF_SET(ref->prefix[k], ref_key(b, k));
		if (n <= 3)
			REF_SET(ref->whole[n], ref_key(b, n));
		else
			ref->four[ref->nfour++] = ref_key(b, 4);
	}
	assert_int_equal(ref->nfour, 0x100000);
}

static void
ref_free(struct utf8_ref *ref)
{
	size_t	k;

	for (k = 1; k <= 3; k++) {
		free(ref->prefix[k]);
		free(ref->whole[k]);
	}
	free(ref->four);
}

static int
ref_cmp(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x < y ? -1 : x > y);
}

/* Whether the k bytes at p are a whole encoding. */
static int
ref_whole(const struct utf8_ref *ref, const unsigned char *p, size_t k)
{
	uint32_t	key = ref_key(p, k);

	if (k <= 3)
		return (REF_GET(ref->whole[k], key));
	return (bsearch(&key, ref->four, ref->nfour, sizeof key,
	    ref_cmp) != NULL);
}

/* Whether the k bytes at p begin some encoding. */
static int
ref_prefix(const struct utf8_ref *ref, const unsigned char *p, size_t k)
{
	if (k <= 3)
		return (REF_GET(ref->prefix[k], ref_key(p, k)));
	return (ref_whole(ref, p, k));
}

static size_t
ref_decode(const struct utf8_ref *ref, const unsigned char *p, size_t len,
    char *out)
{
	size_t	i = 0, o = 0, k;

	while (i < len) {
		for (k = 0; k < 4 && i + k < len; k++) {
			if (!ref_prefix(ref, p + i, k + 1))
				break;
		}
		if (k > 0 && ref_whole(ref, p + i, k)) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else {
			memcpy(out + o, R, 3);
			o += 3;
			i += k > 0 ? k : 1;
		}
	}
	return (o);
}

/* Compares the decoder, in one call and split in two, with the reference. */
static void
ref_check(const struct utf8_ref *ref, const unsigned char *in, size_t len)
{
	struct proto_utf8	st;
	char			want[32], got[32];
	size_t			wantlen, n, k;

	wantlen = ref_decode(ref, in, len, want);
	for (k = 0; k <= len; k++) {
		memset(&st, 0, sizeof st);
		n = proto_utf8_decode(&st, in, k, k == len, got);
		if (k < len)
			n += proto_utf8_decode(&st, in + k, len - k, 1,
			    got + n);
		if (n == wantlen && memcmp(got, want, n) == 0 && st.have == 0)
			continue;
		fail_msg("utf8 %02x %02x %02x %02x (len %zu, split at %zu)",
		    in[0], len > 1 ? in[1] : 0, len > 2 ? in[2] : 0,
		    len > 3 ? in[3] : 0, len, k);
	}
}

/* Bytes at the edges of the ranges UTF-8 gives meaning to. */
static const unsigned char utf8_edges[] = {
	0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
	0xc2, 0xdf, 0xe0, 0xe1, 0xec, 0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3,
	0xf4, 0xf5, 0xf7, 0xf8, 0xfe, 0xff,
};
#define NEDGES	(sizeof utf8_edges / sizeof utf8_edges[0])

/*
 * Every 1- and 2-byte input, and 3- and 4-byte inputs made of the edge
 * bytes, against the reference.
 */
static void
test_utf8_exhaustive(void **state)
{
	struct utf8_ref	ref;
	unsigned char	in[4];
	char		out[64];
	size_t		a, b, c, d, n;

	ref_init(&ref);

	/* The reference itself, on cases Python decided. */
	for (a = 0; a < sizeof utf8_cases / sizeof utf8_cases[0]; a++) {
		n = ref_decode(&ref, (const unsigned char *)utf8_cases[a].in,
		    utf8_cases[a].inlen, out);
		assert_int_equal(n, utf8_cases[a].outlen);
		assert_memory_equal(out, utf8_cases[a].out, n);
	}

	for (a = 0; a < 256; a++) {
		in[0] = a;
		ref_check(&ref, in, 1);
		for (b = 0; b < 256; b++) {
			in[1] = b;
			ref_check(&ref, in, 2);
		}
	}
	for (a = 0; a < NEDGES; a++) {
		in[0] = utf8_edges[a];
		for (b = 0; b < NEDGES; b++) {
			in[1] = utf8_edges[b];
			for (c = 0; c < NEDGES; c++) {
				in[2] = utf8_edges[c];
				ref_check(&ref, in, 3);
				for (d = 0; d < NEDGES; d++) {
					in[3] = utf8_edges[d];
					ref_check(&ref, in, 4);
				}
			}
		}
	}
	ref_free(&ref);
}

/* --- proto_base64_* --- */


/* Encodes into exactly proto_base64_bound(len) bytes; *outp to free. */
static size_t
base64_encode_checked(const void *in, size_t len, char **outp)
{
	size_t	 bound = proto_base64_bound(len), n, i;
	char	*out;

	out = malloc(bound + GUARD);
	assert_non_null(out);
	memset(out, 0x5a, bound + GUARD);
	n = proto_base64_encode(in, len, out);
	assert_int_equal(n, (len + 2) / 3 * 4);
	assert_true(n < bound);
	assert_int_equal(strlen(out), n);
	for (i = bound; i < bound + GUARD; i++)
		assert_int_equal(out[i], 0x5a);
	*outp = out;
	return (n);
}

/*
 * Decodes into exactly len * 3 / 4 bytes; returns what the decoder did.
 * *outp (to free) is set when it succeeded.
 */
static ssize_t
base64_decode_checked(const char *in, size_t len, unsigned char **outp)
{
	size_t		 room = len * 3 / 4, i;
	unsigned char	*out;
	ssize_t		 n;

	out = malloc(room + GUARD);
	assert_non_null(out);
	memset(out, 0x5a, room + GUARD);
	n = proto_base64_decode(in, len, out);
	assert_true(n == -1 || (n >= 0 && (size_t)n <= room));
	for (i = room; i < room + GUARD; i++)
		assert_int_equal(out[i], 0x5a);
	if (n == -1) {
		free(out);
		out = NULL;
	}
	*outp = out;
	return (n);
}

static void
expect_base64(const void *in, size_t len, const char *want)
{
	unsigned char	*back;
	char		*out;
	size_t		 n;
	ssize_t		 m;

	n = base64_encode_checked(in, len, &out);
	if (want != NULL)
		assert_string_equal(out, want);
	m = base64_decode_checked(out, n, &back);
	assert_int_equal(m, len);
	assert_memory_equal(back, in, len);
	free(back);
	free(out);
}

static void
expect_base64_invalid(const char *in)
{
	unsigned char	*out;

	assert_int_equal(base64_decode_checked(in, strlen(in), &out), -1);
	assert_null(out);
}

/* RFC 4648, section 10. */
static void
test_base64_rfc4648(void **state)
{
	expect_base64("", 0, "");
	expect_base64("f", 1, "Zg==");
	expect_base64("fo", 2, "Zm8=");
	expect_base64("foo", 3, "Zm9v");
	expect_base64("foob", 4, "Zm9vYg==");
	expect_base64("fooba", 5, "Zm9vYmE=");
	expect_base64("foobar", 6, "Zm9vYmFy");

	assert_int_equal(proto_base64_bound(0), 1);
	assert_int_equal(proto_base64_bound(1), 5);
	assert_int_equal(proto_base64_bound(3), 5);
	assert_int_equal(proto_base64_bound(4), 9);
}

/* A small fixed generator (xorshift32), so failures repeat. */
static uint32_t
test_random(uint32_t *seed)
{
	uint32_t	x = *seed;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return (*seed = x);
}

static void
test_base64_roundtrip(void **state)
{
	unsigned char	buf[256];
	uint32_t	seed = 0x2545f491;
	size_t		i, len;
	int		round;

	for (i = 0; i < 256; i++)
		buf[i] = i;
	expect_base64(buf, sizeof buf, NULL);
	for (i = 0; i < 256; i++)
		expect_base64(buf + i, 1, NULL);
	/* The whole alphabet, and the last two characters. */
	expect_base64("\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f\x41"
	    "\x14\x93\x51\x55\x97\x61\x96\x9b\x71\xd7\x9f\x82\x18\xa3\x92\x59"
	    "\xa7\xa2\x9a\xab\xb2\xdb\xaf\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb"
	    "\xf3\xdf\xbf", 48,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
	expect_base64("\xfb\xff", 2, "+/8=");

	for (round = 0; round < 8; round++) {
		for (len = 0; len <= 100; len++) {
			for (i = 0; i < len; i++)
				buf[i] = test_random(&seed) & 0xff;
			expect_base64(buf, len, NULL);
		}
	}
}

static void
test_base64_invalid(void **state)
{
	unsigned char	*out;

	/* Length not a multiple of 4. */
	expect_base64_invalid("Z");
	expect_base64_invalid("Zm");
	expect_base64_invalid("Zm9");
	expect_base64_invalid("Zm9vY");
	expect_base64_invalid("Zg=");
	expect_base64_invalid("Zg");

	/* Characters outside the alphabet. */
	expect_base64_invalid("Zm9!");
	expect_base64_invalid("Zm9-");
	expect_base64_invalid("Zm9_");
	expect_base64_invalid("Zm 9");
	expect_base64_invalid("Zm9v\nYmFy");
	expect_base64_invalid("Zm9v\xc3\xa9Zg");
	expect_base64_invalid("Zm.v");
	assert_int_equal(base64_decode_checked("Zm\0v", 4, &out), -1);
	assert_int_equal(base64_decode_checked("Zm9v\0\0\0\0", 8, &out), -1);

	/* Padding where it cannot be. */
	expect_base64_invalid("Zm=v");
	expect_base64_invalid("=Zm9");
	expect_base64_invalid("Z===");
	expect_base64_invalid("====");
	expect_base64_invalid("Zg=A");
	expect_base64_invalid("Zm9v====");
	expect_base64_invalid("Zg==Zm9v");
	expect_base64_invalid("Zm8=Zm9v");
	expect_base64_invalid("Zg==Zg==");
	expect_base64_invalid("Zm9vZ===");
}

/* Base64 as RFC 4648 spells it, a character at a time. */
static size_t
base64_reference(const unsigned char *in, size_t len, char *out)
{
	static const char	alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned long		v;
	size_t			i, o = 0;

	for (i = 0; i < len; i += 3) {
		v = (unsigned long)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = i + 1 < len ? alphabet[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (o);
}

/*
 * Long inputs at every alignment, as the wide loop encodes them (24 bytes
 * at a time, reading 28), up to its last round and the tail after it.
 */
static void
test_base64_long(void **state)
{
	unsigned char	in[1100];
	char		want[1500], *out;
	uint32_t	seed = 0x9e3779b9;
	size_t		i, len, off;

	for (i = 0; i < sizeof in; i++)
		in[i] = test_random(&seed) & 0xff;
	for (len = 0; len <= 1024; len += len < 120 ? 1 : 37) {
		for (off = 0; off < 4; off++) {
			base64_reference(in + off, len, want);
			base64_encode_checked(in + off, len, &out);
			assert_string_equal(out, want);
			free(out);
		}
	}
	/* Every byte value in every position of a group. */
	for (i = 0; i < sizeof in; i++)
		in[i] = (i / 3 + i % 3 * 85) & 0xff;
	expect_base64(in, sizeof in, NULL);
	base64_reference(in, sizeof in, want);
	base64_encode_checked(in, sizeof in, &out);
	assert_string_equal(out, want);
	free(out);
}

/* Worker output to test text with: plain runs, escapes, UTF-8 good and bad. */
static size_t
utf8_quote_input(uint32_t *seed, unsigned char *buf, size_t room)
{
	static const char *const	 pieces[] = {
		"plain text, a whole word or more", "a", "\"", "\\", "\n",
		"\t", "\r", "\x01", "\x1f", "\x7f", " ", "~", "\xc3\xa9",
		"\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\xe2\x82", "\xf0",
		"\xf0\x9f\x98", "\xff", "\x80", "\xed\xa0\x80", "\xc0\xaf",
		"\xf4\x90\x80\x80", "\xe0\x80\xaf", "\xf0\x8f\xbf\xbf",
		"\xe0\xa0\x80", "\0", "0123456789abcdef",
	};
	const char			*p;
	size_t				 n = 0, k;

	while (n < room) {
		k = test_random(seed) % (sizeof pieces / sizeof pieces[0]);
		p = pieces[k];
		k = p[0] == '\0' ? 1 : strlen(p);
		if (k > room - n)
			k = room - n;
		memcpy(buf + n, p, k);
		n += k;
	}
	return (n);
}

/*
 * proto_utf8_quote gives what proto_utf8_decode then proto_json_quote
 * give, call by call, however the input is split, within its bound.
 */
static void
test_utf8_quote(void **state)
{
	struct proto_utf8	 a, b;
	unsigned char		 in[600];
	char			*text, *want, *got;
	uint32_t		 seed = 0x1234567;
	size_t			 len, at, k, n, m, bound, i;
	int			 round, final;

	for (round = 0; round < 400; round++) {
		len = utf8_quote_input(&seed, in, test_random(&seed) %
		    sizeof in);
		memset(&a, 0, sizeof a);
		memset(&b, 0, sizeof b);
		for (at = 0; at <= len; at += k) {
			k = round % 3 == 0 ? len - at :
			    test_random(&seed) % (len - at + 1);
			final = at + k == len && round % 2 == 0;
			text = malloc(proto_utf8_bound(k));
			want = malloc(proto_json_quote_bound(
			    proto_utf8_bound(k)));
			bound = proto_utf8_quote_bound(k);
			got = malloc(bound + GUARD);
			assert_true(text != NULL && want != NULL &&
			    got != NULL);
			memset(got, 0x5a, bound + GUARD);
			n = proto_utf8_decode(&a, in + at, k, final, text);
			n = proto_json_quote(text, n, want);
			m = proto_utf8_quote(&b, in + at, k, final, got);
			assert_int_equal(m, n);
			assert_memory_equal(got, want, n);
			assert_true(m <= bound);
			for (i = bound; i < bound + GUARD; i++)
				assert_int_equal(got[i], 0x5a);
			assert_int_equal(a.have, b.have);
			free(text);
			free(want);
			free(got);
			if (at == len)
				break;
		}
	}
	/* The bound: a held sequence fails, then only control bytes. */
	memset(&b, 0, sizeof b);
	got = malloc(proto_utf8_quote_bound(64));
	assert_non_null(got);
	assert_int_equal(proto_utf8_quote(&b, "\xf0\x9f\x98", 3, 0, got), 0);
	memset(in, 0x01, 63);
	in[63] = 0xf0;
	n = proto_utf8_quote(&b, in, 64, 1, got);
	assert_int_equal(n, 3 + 63 * 6 + 3);
	free(got);
}

/* --- proto_json_quote --- */

static void
expect_quote(const char *in, size_t len, const char *want)
{
	size_t	 bound = proto_json_quote_bound(len), n, i;
	char	*out;

	out = malloc(bound + GUARD);
	assert_non_null(out);
	memset(out, 0x5a, bound + GUARD);
	n = proto_json_quote(in, len, out);
	assert_true(n <= bound);
	for (i = n; i < bound + GUARD; i++)
		assert_int_equal(out[i], 0x5a);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	free(out);
}

static void
test_json_quote(void **state)
{
	expect_quote(B(""), "");
	expect_quote(B("plain text /"), "plain text /");
	expect_quote(B("\""), "\\\"");
	expect_quote(B("\\"), "\\\\");
	expect_quote(B("a\"b\\c\\\""), "a\\\"b\\\\c\\\\\\\"");
	expect_quote(B("\n\t\r"), "\\n\\t\\r");
	expect_quote(B("\x00"), "\\u0000");
	expect_quote(B("\x01\x08\x0b\x0c\x1b\x1f"),
	    "\\u0001\\u0008\\u000b\\u000c\\u001b\\u001f");
	expect_quote(B("\x7f"), "\\u007f");
	expect_quote(B(" ~"), " ~");
	expect_quote(B("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" R),
	    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" R);
	expect_quote(B("\xc2\x80\xc2\x9f"), "\xc2\x80\xc2\x9f");
	expect_quote(B("line\x00two\n"), "line\\u0000two\\n");

	/* Six bytes for each control character. */
	expect_quote(B("\x01\x02\x03"), "\\u0001\\u0002\\u0003");
	assert_int_equal(proto_json_quote_bound(0), 1);
	assert_int_equal(proto_json_quote_bound(3), 19);
}

/* The quoted text, in quotes, is JSON that jansson reads back as s. */
static void
expect_quote_parses(const char *s, size_t len)
{
	json_error_t	 error;
	json_t		*v;
	char		*text;
	size_t		 n;

	text = malloc(proto_json_quote_bound(len) + 2);
	assert_non_null(text);
	text[0] = '"';
	n = proto_json_quote(s, len, text + 1);
	text[n + 1] = '"';
	/* \u0000 is a NUL jansson only allows when asked. */
	v = json_loadb(text, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
	if (v == NULL)
		fail_msg("%s: %.*s", error.text, (int)(n + 2), text);
	assert_true(json_is_string(v));
	assert_int_equal(json_string_length(v), len);
	assert_memory_equal(json_string_value(v), s, len);
	json_decref(v);
	free(text);
}

static void
test_json_quote_jansson(void **state)
{
	static const char	*strings[] = {
		"caf\xc3\xa9", "\xe2\x82\xac 5",
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x81",
		"\xf4\x8f\xbf\xbf", "\xef\xbf\xbd", "\xc2\x80\xc2\x85\xdf\xbf",
		"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80",
		"tab\there \"q\" back\\slash\r\n\x1b[0m\x7f",
		"</script>\xe2\x80\xa8\xe2\x80\xa9",
	};
	char		c;
	size_t		i;

	for (i = 0; i < 0x80; i++) {
		c = (char)i;
		expect_quote_parses(&c, 1);
	}
	for (i = 0; i < sizeof strings / sizeof strings[0]; i++)
		expect_quote_parses(strings[i], strlen(strings[i]));
	expect_quote_parses("a\0b\0", 4);
}

/*
 * proto_json_text_cost bounds what any byte becomes: quoted on its own,
 * or as U+FFFD (3 bytes) when it is not valid UTF-8.
 */
static void
test_json_text_cost(void **state)
{
	char	in, out[8];
	size_t	n;
	int	i;

	for (i = 0; i < 256; i++) {
		in = (char)i;
		n = i < 0x80 ? proto_json_quote(&in, 1, out) : 3;
		assert_true(proto_json_text_cost((unsigned char)i) >= n);
		if (i < 0x80)
			assert_int_equal(proto_json_text_cost((unsigned char)i),
			    n);
	}
}

/*
 * start params: each of good passes; each of bad fails with a cause
 * holding both needles.
 */
static void
expect_start_params(const char *const *good, size_t ngood,
    const char *const *bad, size_t nbad, const char *n1, const char *n2)
{
	json_t	*v;
	char	*cause;
	size_t	 i;

	for (i = 0; i < ngood; i++) {
		assert_non_null(v = json_loads(good[i], 0, NULL));
		assert_int_equal(proto_params_check(v, proto_params_start,
		    &cause), 0);
		json_decref(v);
	}
	for (i = 0; i < nbad; i++) {
		assert_non_null(v = json_loads(bad[i], 0, NULL));
		assert_int_equal(proto_params_check(v, proto_params_start,
		    &cause), -1);
		assert_non_null(strstr(cause, n1));
		assert_non_null(strstr(cause, n2));
		free(cause);
		json_decref(v);
	}
}

/* log_limit: an integer from 0 to 1 GiB. */
static void
test_params_log_limit(void **state)
{
	static const char *const good[] = {
		"{\"argv\":[\"x\"],\"log_limit\":0}",
		"{\"argv\":[\"x\"],\"log_limit\":1073741824}",
		"{\"argv\":[\"x\"],\"log_limit\":null}",
	};
	static const char *const bad[] = {
		"{\"argv\":[\"x\"],\"log_limit\":1073741825}",
		"{\"argv\":[\"x\"],\"log_limit\":-1}",
		"{\"argv\":[\"x\"],\"log_limit\":1.5}",
		"{\"argv\":[\"x\"],\"log_limit\":\"1\"}",
	};

	expect_start_params(good, sizeof good / sizeof good[0], bad,
	    sizeof bad / sizeof bad[0], "'log_limit'", "1073741824");
}

/* user and group: a name, or an id >= 0. */
static void
test_params_account(void **state)
{
	static const char *const good[] = {
		"{\"argv\":[\"x\"],\"user\":\"nobody\",\"group\":0}",
		"{\"argv\":[\"x\"],\"user\":4242,\"group\":\"4242\"}",
		"{\"argv\":[\"x\"],\"user\":null,\"group\":null}",
	};
	static const char *const bad[] = {
		"{\"argv\":[\"x\"],\"user\":-1}",
		"{\"argv\":[\"x\"],\"user\":\"\"}",
		"{\"argv\":[\"x\"],\"group\":1.5}",
		"{\"argv\":[\"x\"],\"group\":[\"wheel\"]}",
	};

	expect_start_params(good, sizeof good / sizeof good[0], bad,
	    sizeof bad / sizeof bad[0], "a name or a number", "");
}

/* --- proto_dump and proto_encode: numbers --- */

/* The text of v, then read back with jansson; *textp to free. */
static json_t *
dump_load(json_t *v, char **textp)
{
	json_error_t	 error;
	json_t		*back;
	char		*text;

	text = proto_dump(v);
	assert_non_null(text);
	back = json_loadb(text, strlen(text), JSON_DECODE_ANY, &error);
	if (back == NULL)
		fail_msg("%s: %s", error.text, text);
	*textp = text;
	return (back);
}

static void
expect_real_exact(double d)
{
	json_t	*v, *back;
	char	*text, *line;
	size_t	 len;

	v = json_real(d);
	assert_non_null(v);
	back = dump_load(v, &text);
	assert_true(json_is_real(back));
	if (json_real_value(back) != d)
		fail_msg("%.17g printed as %s", d, text);
	line = proto_encode(v, &len);
	assert_non_null(line);
	assert_int_equal(len, strlen(text) + 1);
	assert_memory_equal(line, text, len - 1);
	assert_int_equal(line[len - 1], '\n');
	free(line);
	free(text);
	json_decref(back);
	json_decref(v);
}

static void
expect_dump(json_t *v, const char *want)
{
	char	*text;

	assert_non_null(v);
	text = proto_dump(v);
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
	json_decref(v);
}

static void
test_encode_real(void **state)
{
	static const double	 reals[] = {
		0.1, 0.2, 0.3, 1.5, -2.25, 1.0 / 3, 2.0 / 3, 100.0, 1e21,
		1e-7, 123456.789, 1.2345678901234567, 1.7976931348623157e308,
		-1.7976931348623157e308, 5e-324, 2.2250738585072014e-308,
		4.9406564584124654e-324, 9007199254740993.0,
		0.30000000000000004,
	};
	json_t			*v, *back;
	char			*text;
	size_t			 i;

	expect_dump(json_real(0.1), "0.1");
	expect_dump(json_real(-0.1), "-0.1");
	expect_dump(json_real(2.5), "2.5");
	expect_dump(json_real(1.2345678901234567), "1.2345678901234567");
	expect_dump(json_real(1.7976931348623157e308),
	    "1.7976931348623157e308");
	expect_dump(json_pack("[f, f]", 0.1, 0.5), "[0.1,0.5]");
	expect_dump(json_pack("{s:f}", "t", 0.1), "{\"t\":0.1}");

	for (i = 0; i < sizeof reals / sizeof reals[0]; i++)
		expect_real_exact(reals[i]);

	/* Nested, with a value that needs 17 digits next to ones that don't. */
	v = json_pack("{s:[f, f, {s:f}], s:f}", "a", 0.1, 1.2345678901234567,
	    "b", 5e-324, "c", 1.7976931348623157e308);
	back = dump_load(v, &text);
	assert_true(json_equal(v, back));
	free(text);
	json_decref(back);
	json_decref(v);
}

static void
test_encode_integer(void **state)
{
	json_t	*v, *back;
	char	*text;

	expect_dump(json_integer(0), "0");
	expect_dump(json_integer(-1), "-1");
	expect_dump(json_integer(9007199254740993LL), "9007199254740993");
	expect_dump(json_integer(LLONG_MAX), "9223372036854775807");
	expect_dump(json_integer(LLONG_MIN), "-9223372036854775808");
	/* Integers stay integers next to reals that need every digit. */
	expect_dump(json_pack("[I, f, i]", (json_int_t)123456789012345678LL,
	    1.2345678901234567, 7),
	    "[123456789012345678,1.2345678901234567,7]");

	v = json_pack("{s:I, s:f}", "id", (json_int_t)LLONG_MAX, "x",
	    0.1);
	back = dump_load(v, &text);
	assert_true(json_is_integer(json_object_get(back, "id")));
	assert_true(json_equal(v, back));
	free(text);
	json_decref(back);
	json_decref(v);
}

/* --- proto_connect --- */

/* A fresh private folder under /tmp (short enough for sun_path). */
static void
temp_dir(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/test_proto.XXXXXX");
	assert_non_null(mkdtemp(dir));
}

/* A socket bound at path; listening unless listen_too is 0. */
static int
bound_socket(const char *path, int listen_too)
{
	struct sockaddr_un	sun;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof sun.sun_path);
	memcpy(sun.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd != -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
	if (listen_too)
		assert_int_equal(listen(fd, 4), 0);
	return (fd);
}

static void
test_connect_too_long(void **state)
{
	struct sockaddr_un	sun;
	char			path[sizeof sun.sun_path + 64];

	/* No room for the NUL. */
	memset(path, 'a', sizeof path);
	path[0] = '/';
	path[sizeof sun.sun_path] = '\0';
	errno = 0;
	assert_int_equal(proto_connect(path, 0), -1);
	assert_int_equal(errno, ENAMETOOLONG);

	path[sizeof path - 1] = '\0';
	memset(path + sizeof sun.sun_path, 'a', 63);
	errno = 0;
	assert_int_equal(proto_connect(path, 0), -1);
	assert_int_equal(errno, ENAMETOOLONG);

	/* The longest that fits is looked up. */
	memcpy(path, "/nonexistent-procd-test/", 24);
	path[sizeof sun.sun_path - 1] = '\0';
	errno = 0;
	assert_int_equal(proto_connect(path, 0), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_connect_missing(void **state)
{
	char	dir[64], path[128];
	int	fd;

	temp_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/procd.sock", dir);

	errno = 0;
	assert_int_equal(proto_connect(path, 0), -1);
	assert_true(errno == ENOENT || errno == ECONNREFUSED);

	/* A socket file nobody listens on any more. */
	fd = bound_socket(path, 0);
	close(fd);
	errno = 0;
	assert_int_equal(proto_connect(path, 0), -1);
	assert_int_equal(errno, ECONNREFUSED);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_connect(void **state)
{
	char	dir[64], path[128], c;
	int	lfd, fd, afd, flags;

	temp_dir(dir, sizeof dir);
	snprintf(path, sizeof path, "%s/procd.sock", dir);
	lfd = bound_socket(path, 1);

	fd = proto_connect(path, 0);
	assert_true(fd >= 0);
	flags = fcntl(fd, F_GETFD);
	assert_true(flags != -1);
	assert_true(flags & FD_CLOEXEC);
	flags = fcntl(fd, F_GETFL);
	assert_true(flags != -1);
	assert_false(flags & O_NONBLOCK);

	/* It is connected to our listener. */
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(read(afd, &c, 1), 1);
	assert_int_equal(c, 'x');
	assert_int_equal(write(afd, "y", 1), 1);
	assert_int_equal(read(fd, &c, 1), 1);
	assert_int_equal(c, 'y');

	close(afd);
	close(fd);
	close(lfd);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_request),
		cmocka_unit_test(test_decode_overflow),
		cmocka_unit_test(test_decode_notification),
		cmocka_unit_test(test_decode_id_types),
		cmocka_unit_test(test_decode_id_invalid),
		cmocka_unit_test(test_decode_jsonrpc),
		cmocka_unit_test(test_decode_method),
		cmocka_unit_test(test_decode_params),
		cmocka_unit_test(test_decode_not_object),
		cmocka_unit_test(test_decode_empty_batch),
		cmocka_unit_test(test_decode_batch),
		cmocka_unit_test(test_decode_duplicate_top),
		cmocka_unit_test(test_decode_duplicate_nested),
		cmocka_unit_test(test_decode_duplicate_id),
		cmocka_unit_test(test_decode_duplicate_in_batch),
		cmocka_unit_test(test_decode_nul_string),
		cmocka_unit_test(test_decode_nul_key),
		cmocka_unit_test(test_decode_parse_error),
		cmocka_unit_test(test_decode_depth),
		cmocka_unit_test(test_decode_utf8),
		cmocka_unit_test(test_decode_slow_path_parse_error),
		cmocka_unit_test(test_decode_clear),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_frame_blank),
		cmocka_unit_test(test_frame_empty_line),
		cmocka_unit_test(test_frame_limit),
		cmocka_unit_test(test_frame_sequence),
		cmocka_unit_test(test_params_basic),
		cmocka_unit_test(test_params_null),
		cmocka_unit_test(test_params_job),
		cmocka_unit_test(test_params_seconds),
		cmocka_unit_test(test_params_types),
		cmocka_unit_test(test_params_env),
		cmocka_unit_test(test_params_name),
		cmocka_unit_test(test_states_mask),
		cmocka_unit_test(test_signal_parse),
		cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_result_new),
		cmocka_unit_test(test_error_new),
		cmocka_unit_test(test_request_new),
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_job_exit_status),
		cmocka_unit_test(test_code_message),
		cmocka_unit_test(test_state_names),
		cmocka_unit_test(test_utf8_python),
		cmocka_unit_test(test_utf8_split),
		cmocka_unit_test(test_utf8_held),
		cmocka_unit_test(test_utf8_bound),
		cmocka_unit_test(test_utf8_exhaustive),
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_base64_invalid),
		cmocka_unit_test(test_base64_long),
		cmocka_unit_test(test_utf8_quote),
		cmocka_unit_test(test_json_quote),
		cmocka_unit_test(test_json_quote_jansson),
		cmocka_unit_test(test_json_text_cost),
		cmocka_unit_test(test_params_log_limit),
		cmocka_unit_test(test_params_account),
		cmocka_unit_test(test_encode_real),
		cmocka_unit_test(test_encode_integer),
		cmocka_unit_test(test_connect_too_long),
		cmocka_unit_test(test_connect_missing),
		cmocka_unit_test(test_connect),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
