/* SPDX-License-Identifier: ISC */
/*
 * Unit tests for proto/: request decoding and its JSON-RPC envelope rules,
 * line framing, parameter tables, signals, socket paths and envelopes, each
 * checked against the rules of procd-protocol(7).
 */

#include "config.h"

#include <sys/types.h>

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

static const struct proto_param spec_join[] = {
	{ "job", PROTO_P_JOB, 1 },
	{ "timeout", PROTO_P_SECONDS, 0 },
	{ NULL, 0, 0 },
};

static const struct proto_param spec_start[] = {
	{ "argv", PROTO_P_ARGV, 1 },
	{ "name", PROTO_P_NAME, 0 },
	{ "env", PROTO_P_ENV, 0 },
	{ "cwd", PROTO_P_PATH, 0 },
	{ "daemon", PROTO_P_BOOL, 0 },
	{ "parent", PROTO_P_JOB, 0 },
	{ "stop_timeout", PROTO_P_SECONDS, 0 },
	{ "output", PROTO_P_STRING, 0 },
	{ "log_limit", PROTO_P_UINT, 0 },
	{ NULL, 0, 0 },
};

static const struct proto_param spec_misc[] = {
	{ "state", PROTO_P_STATES, 0 },
	{ "signal", PROTO_P_SIGNAL, 0 },
	{ "jobs", PROTO_P_JOBS, 0 },
	{ "any", PROTO_P_ANY, 0 },
	{ NULL, 0, 0 },
};

static const struct proto_param spec_none[] = {
	{ NULL, 0, 0 },
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
	assert_int_equal(check(NULL, spec_none, NULL), 0);
	assert_int_equal(check("{}", spec_none, NULL), 0);
	assert_int_equal(check(NULL, spec_misc, NULL), 0);
	assert_int_equal(check(NULL, spec_join, "'job' is required"), -1);
	assert_int_equal(check("{}", spec_join, "'job' is required"), -1);
	assert_int_equal(check("{\"job\":1}", spec_join, NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":2.5}", spec_join,
	    NULL), 0);

	/* Not an object. */
	assert_int_equal(check("[1]", spec_join, "object"), -1);
	assert_int_equal(check("[]", spec_none, "object"), -1);
	assert_int_equal(check("1", spec_none, "object"), -1);

	/* Unknown member. */
	assert_int_equal(check("{\"job\":1,\"bogus\":1}", spec_join,
	    "'bogus' is not a known param"), -1);
	assert_int_equal(check("{\"x\":null}", spec_none, "'x'"), -1);
	assert_int_equal(check("{\"Job\":1}", spec_join, "'Job'"), -1);
}

static void
test_params_null(void **state)
{
	/* null counts as absent. */
	assert_int_equal(check("{\"job\":1,\"timeout\":null}", spec_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":null}", spec_join,
	    "'job' is required"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":null,\"env\":null,"
	    "\"cwd\":null,\"daemon\":null,\"parent\":null,\"stop_timeout\":"
	    "null,\"output\":null,\"log_limit\":null}", spec_start, NULL), 0);
	assert_int_equal(check("{\"state\":null,\"signal\":null,\"jobs\":null,"
	    "\"any\":null}", spec_misc, NULL), 0);
}

static void
test_params_job(void **state)
{
	assert_int_equal(check("{\"job\":1}", spec_join, NULL), 0);
	assert_int_equal(check("{\"job\":\"web\"}", spec_join, NULL), 0);
	assert_int_equal(check("{\"job\":1.5}", spec_join, "'job'"), -1);
	assert_int_equal(check("{\"job\":true}", spec_join, "'job'"), -1);
	assert_int_equal(check("{\"job\":[1]}", spec_join, "'job'"), -1);
	assert_int_equal(check("{\"job\":{}}", spec_join, "'job'"), -1);
}

static void
test_params_seconds(void **state)
{
	assert_int_equal(check("{\"job\":1,\"timeout\":0}", spec_join, NULL),
	    0);
	assert_int_equal(check("{\"job\":1,\"timeout\":0.0}", spec_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":0.001}", spec_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":1000000000}", spec_join,
	    NULL), 0);
	assert_int_equal(check("{\"job\":1,\"timeout\":1e9}", spec_join, NULL),
	    0);
	assert_int_equal(check("{\"job\":1,\"timeout\":-1}", spec_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":-0.001}", spec_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":1000000001}",
	    spec_join, "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":1.0000001e9}",
	    spec_join, "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":1e308}", spec_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":\"1\"}", spec_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"job\":1,\"timeout\":true}", spec_join,
	    "'timeout'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"stop_timeout\":-5}",
	    spec_start, "'stop_timeout'"), -1);
}

static void
test_params_types(void **state)
{
	/* argv */
	assert_int_equal(check("{\"argv\":[\"sleep\",\"1\"]}", spec_start,
	    NULL), 0);
	assert_int_equal(check("{\"argv\":[\"\"]}", spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[]}", spec_start, "'argv'"), -1);
	assert_int_equal(check("{\"argv\":[\"a\",1]}", spec_start, "'argv'"),
	    -1);
	assert_int_equal(check("{\"argv\":[\"a\",null]}", spec_start,
	    "'argv'"), -1);
	assert_int_equal(check("{\"argv\":\"sleep 1\"}", spec_start, "'argv'"),
	    -1);
	assert_int_equal(check("{\"name\":\"x\"}", spec_start,
	    "'argv' is required"), -1);

	/* bool */
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":true}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":false}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":1}", spec_start,
	    "'daemon'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"daemon\":\"true\"}",
	    spec_start, "'daemon'"), -1);

	/* path */
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"/\"}", spec_start,
	    NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"/tmp/x\"}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"tmp\"}",
	    spec_start, "'cwd'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":\"\"}", spec_start,
	    "'cwd'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"cwd\":1}", spec_start,
	    "'cwd'"), -1);

	/* string */
	assert_int_equal(check("{\"argv\":[\"x\"],\"output\":\"null\"}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"output\":1}", spec_start,
	    "'output'"), -1);

	/* uint */
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":0}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":262144}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":-1}",
	    spec_start, "'log_limit'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":1.5}",
	    spec_start, "'log_limit'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"log_limit\":\"1\"}",
	    spec_start, "'log_limit'"), -1);

	/* parent is a JOB */
	assert_int_equal(check("{\"argv\":[\"x\"],\"parent\":\"web\"}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"parent\":false}",
	    spec_start, "'parent'"), -1);

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
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{}}", spec_start,
	    NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A\":\"1\","
	    "\"B\":null,\"C\":\"\",\"D\":\"x=y\"}}", spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A=B\":\"x\"}}",
	    spec_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"=\":\"x\"}}",
	    spec_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"\":\"x\"}}",
	    spec_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A\":1}}",
	    spec_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":{\"A\":[]}}",
	    spec_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":[\"A=1\"]}",
	    spec_start, "'env'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"env\":\"A=1\"}",
	    spec_start, "'env'"), -1);
}

static void
test_params_name(void **state)
{
	char	name[80], *text;

	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"web\"}",
	    spec_start, NULL), 0);

	memset(name, 'a', 64);
	name[64] = '\0';
	assert_int_equal(asprintf(&text, "{\"argv\":[\"x\"],\"name\":\"%s\"}",
	    name) == -1, 0);
	assert_int_equal(check(text, spec_start, NULL), 0);
	free(text);
	assert_true(proto_name_valid(name));

	name[64] = 'a';
	name[65] = '\0';
	assert_int_equal(asprintf(&text, "{\"argv\":[\"x\"],\"name\":\"%s\"}",
	    name) == -1, 0);
	assert_int_equal(check(text, spec_start, "'name'"), -1);
	free(text);
	assert_false(proto_name_valid(name));

	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"123\"}",
	    spec_start, "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"job-12\"}",
	    spec_start, "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"job-x\"}",
	    spec_start, NULL), 0);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"\"}", spec_start,
	    "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":\"a b\"}",
	    spec_start, "'name'"), -1);
	assert_int_equal(check("{\"argv\":[\"x\"],\"name\":7}", spec_start,
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
	assert_int_equal(mask("[\"running\",\"stopping\",\"waiting\","
	    "\"exited\"]", 1), 0xf);
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
	assert_int_equal(proto_params_check(req->params, spec_join, &cause), 0);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_request),
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
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
