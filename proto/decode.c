/* SPDX-License-Identifier: ISC */
/*
 * Decoding one line into JSON-RPC 2.0 requests. jansson parses; this file
 * applies the envelope rules, and takes a slower path when jansson refuses
 * a duplicate or NUL-holding object key, so that such a request is answered
 * as invalid (with its id where that can still be read) rather than as a
 * parse error, and one bad entry does not spoil the rest of a batch.
 *
 * jansson also refuses a number it cannot hold (an integer beyond 64 bits,
 * a real beyond double) although the text is JSON. Such a number is
 * replaced by a marker string and the line decoded again: in params it is
 * then "out of range" (-32602), as an id it cannot be echoed (-32600, id
 * null), in a member procd ignores it is ignored.
 */

#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define DECODE_FLAGS	(JSON_DECODE_ANY | JSON_ALLOW_NUL)
#define STRICT_FLAGS	(DECODE_FLAGS | JSON_REJECT_DUPLICATES)

/* What a number too large to hold becomes: a string no client needs. */
#define OVERFLOW_TEXT	"\"\\u0000number out of range\""
#define OVERFLOW_VALUE	"\0number out of range"

static int	decode_has_nul(const json_t *);
static int	decode_line(const char *, size_t, struct proto_message *,
		    int);
static void	decode_request(json_t *, struct proto_request *);
static int	decode_slow(const char *, size_t, struct proto_message *);

static int
decode_is_space(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\n');
}

/* True if a string anywhere in v holds a NUL character. */
static int
decode_has_nul(const json_t *v)
{
	const char	*key;
	json_t		*member;
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (proto_out_of_range(v))
			return (0);
		return (memchr(json_string_value(v), '\0',
		    json_string_length(v)) != NULL);
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++) {
			if (decode_has_nul(json_array_get(v, i)))
				return (1);
		}
		return (0);
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, member) {
			if (decode_has_nul(member))
				return (1);
		}
		return (0);
	default:
		return (0);
	}
}

int
proto_out_of_range(const json_t *v)
{
	return (json_is_string(v) &&
	    json_string_length(v) == sizeof OVERFLOW_VALUE - 1 &&
	    memcmp(json_string_value(v), OVERFLOW_VALUE,
	    sizeof OVERFLOW_VALUE - 1) == 0);
}

static int
decode_id_readable(const json_t *id)
{
	if (proto_out_of_range(id))
		return (0);
	if (json_is_string(id))
		return (!decode_has_nul(id));
	return (json_is_number(id) || json_is_null(id));
}

static void
decode_invalid(struct proto_request *req, json_t *id, const char *message)
{
	req->error = PROTO_INVALID_REQUEST;
	req->message = message;
	req->id = (id != NULL && decode_id_readable(id)) ? id : NULL;
	req->method = NULL;
	req->params = NULL;
}

/* Applies the envelope rules to one parsed entry. */
static void
decode_request(json_t *v, struct proto_request *req)
{
	json_t	*id, *version, *method, *params;

	memset(req, 0, sizeof *req);
	if (!json_is_object(v)) {
		decode_invalid(req, NULL, "request must be an object");
		return;
	}
	id = json_object_get(v, "id");
	if (id != NULL && !decode_id_readable(id)) {
		decode_invalid(req, NULL, proto_out_of_range(id) ?
		    "id is a number too large to echo" : json_is_string(id) ?
		    "strings must not hold NUL characters" :
		    "id must be a string, a number or null");
		return;
	}
	version = json_object_get(v, "jsonrpc");
	if (!json_is_string(version) ||
	    strcmp(json_string_value(version), "2.0") != 0 ||
	    json_string_length(version) != 3) {
		decode_invalid(req, id, "jsonrpc must be \"2.0\"");
		return;
	}
	method = json_object_get(v, "method");
	if (!json_is_string(method) || proto_out_of_range(method)) {
		decode_invalid(req, id, "method must be a string");
		return;
	}
	params = json_object_get(v, "params");
	if (params != NULL && !json_is_object(params) &&
	    !json_is_array(params)) {
		decode_invalid(req, id, "params must be an object");
		return;
	}
	if (decode_has_nul(v)) {
		decode_invalid(req, id, "strings must not hold NUL characters");
		return;
	}
	req->id = id;
	req->method = json_string_value(method);
	req->params = params;
}

static int
decode_alloc(struct proto_message *msg, size_t n)
{
	msg->requests = calloc(n, sizeof *msg->requests);
	if (msg->requests == NULL)
		return (-1);
	msg->nrequests = n;
	return (0);
}

/*
 * Decodes a line. Returns 0 (msg filled in; see parse_error), or -1 on out
 * of memory.
 */
int
proto_decode(const char *line, size_t len, struct proto_message *msg)
{
	return (decode_line(line, len, msg, 1));
}

/* The end of the number token at s[i] (JSON's number characters). */
static size_t
decode_number_end(const char *s, size_t len, size_t i)
{
	while (i < len && ((s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
	    s[i] == '+' || s[i] == '.' || s[i] == 'e' || s[i] == 'E'))
		i++;
	return (i);
}

/* Skips digits from s[*i]; returns how many. */
static size_t
decode_digits(const char *s, size_t len, size_t *i)
{
	size_t	start = *i;

	while (*i < len && s[*i] >= '0' && s[*i] <= '9')
		(*i)++;
	return (*i - start);
}

/* True if s[0..len) is a number as JSON writes it, and only that. */
static int
decode_number_valid(const char *s, size_t len)
{
	size_t	i = 0, n;

	if (i < len && s[i] == '-')
		i++;
	if ((n = decode_digits(s, len, &i)) == 0 ||
	    (n > 1 && s[i - n] == '0'))
		return (0);
	if (i < len && s[i] == '.') {
		i++;
		if (decode_digits(s, len, &i) == 0)
			return (0);
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (decode_digits(s, len, &i) == 0)
			return (0);
	}
	return (i == len);
}

/* True if the number text s[0..len) is one jansson cannot hold. */
static int
decode_number_overflows(const char *s, size_t len)
{
	char	 buf[64], *copy = buf;
	double	 d;
	int	 over;

	if (!decode_number_valid(s, len))
		return (0);
	if (len >= sizeof buf && (copy = malloc(len + 1)) == NULL)
		return (0);
	memcpy(copy, s, len);
	copy[len] = '\0';
	errno = 0;
	if (strcspn(copy, ".eE") == len)
		(void)strtoll(copy, NULL, 10);
	else if ((d = strtod(copy, NULL)) != HUGE_VAL && d != -HUGE_VAL)
		errno = 0;
	over = (errno == ERANGE);
	if (copy != buf)
		free(copy);
	return (over);
}

/*
 * A copy of the line with every number too large to hold replaced by the
 * marker string, or NULL if there is none (or no memory).
 */
static char *
decode_mark_overflows(const char *s, size_t len, size_t *newlen)
{
	char	*out = NULL, *grown;
	size_t	 i, end, done = 0, used = 0, cap = 0, n;
	int	 in_string = 0, found = 0;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = 0;
			continue;
		}
		if (s[i] == '"') {
			in_string = 1;
			continue;
		}
		if (s[i] != '-' && (s[i] < '0' || s[i] > '9'))
			continue;
		end = decode_number_end(s, len, i);
		if (!decode_number_overflows(s + i, end - i)) {
			i = end - 1;
			continue;
		}
		/* Copy what came before, then the marker. */
		n = (i - done) + sizeof OVERFLOW_TEXT - 1;
		if (used + n + (len - end) > cap) {
			cap = used + n + (len - end) + 64;
			if ((grown = realloc(out, cap)) == NULL) {
				free(out);
				return (NULL);
			}
			out = grown;
		}
		memcpy(out + used, s + done, i - done);
		used += i - done;
		memcpy(out + used, OVERFLOW_TEXT, sizeof OVERFLOW_TEXT - 1);
		used += sizeof OVERFLOW_TEXT - 1;
		done = end;
		i = end - 1;
		found = 1;
	}
	if (!found)
		return (NULL);
	memcpy(out + used, s + done, len - done);	/* room kept above */
	*newlen = used + len - done;
	return (out);
}

static int
decode_line(const char *line, size_t len, struct proto_message *msg,
    int first)
{
	json_error_t	 error;
	json_t		*root;
	char		*marked;
	size_t		 i, n, markedlen;
	int		 rc;

	memset(msg, 0, sizeof *msg);
	root = json_loadb(line, len, STRICT_FLAGS, &error);
	if (root == NULL && json_error_code(&error) ==
	    json_error_out_of_memory)
		return (-1);
	if (root == NULL && first &&
	    (marked = decode_mark_overflows(line, len, &markedlen)) != NULL) {
		rc = decode_line(marked, markedlen, msg, 0);
		free(marked);
		return (rc);
	}
	if (root == NULL) {
		switch (json_error_code(&error)) {
		case json_error_duplicate_key:
		case json_error_null_byte_in_key:
			return (decode_slow(line, len, msg));
		default:
			msg->parse_error = 1;
			return (0);
		}
	}
	msg->root = root;
	if (!json_is_array(root) || json_array_size(root) == 0) {
		if (decode_alloc(msg, 1) == -1)
			return (-1);
		if (json_is_array(root))
			decode_invalid(&msg->requests[0], NULL,
			    "empty batch");
		else
			decode_request(root, &msg->requests[0]);
		return (0);
	}
	n = json_array_size(root);
	msg->batch = 1;
	if (decode_alloc(msg, n) == -1)
		return (-1);
	for (i = 0; i < n; i++)
		decode_request(json_array_get(root, i), &msg->requests[i]);
	return (0);
}

void
proto_message_clear(struct proto_message *msg)
{
	json_decref(msg->root);
	free(msg->requests);
	memset(msg, 0, sizeof *msg);
}

int
proto_request_is_notification(const struct proto_request *req)
{
	return (req->error == 0 && req->id == NULL);
}

/*
 * The slow path. Finds where one JSON value ends without judging it (the
 * parts are judged by jansson afterwards). Returns 0 and advances *pos, or
 * -1 if the text ends first.
 */
static int
decode_skip(const char *s, size_t len, size_t *pos)
{
	size_t	i = *pos;
	int	depth = 0, in_string = 0;

	while (i < len && decode_is_space(s[i]))
		i++;
	if (i == len)
		return (-1);
	if (s[i] != '"' && s[i] != '{' && s[i] != '[') {
		while (i < len && !decode_is_space(s[i]) && s[i] != ',' &&
		    s[i] != ']' && s[i] != '}' && s[i] != ':')
			i++;
		*pos = i;
		return (0);
	}
	for (; i < len; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"') {
				in_string = 0;
				if (depth == 0) {
					*pos = i + 1;
					return (0);
				}
			}
			continue;
		}
		if (s[i] == '"')
			in_string = 1;
		else if (s[i] == '{' || s[i] == '[')
			depth++;
		else if ((s[i] == '}' || s[i] == ']') && --depth == 0) {
			*pos = i + 1;
			return (0);
		}
	}
	return (-1);
}

static size_t
decode_skip_space(const char *s, size_t len, size_t pos)
{
	while (pos < len && decode_is_space(s[pos]))
		pos++;
	return (pos);
}

/*
 * The id of an object whose text jansson refused: readable only when the
 * object has exactly one top-level "id" member whose value parses on its
 * own. Returns a new reference or NULL.
 */
static json_t *
decode_slow_id(const char *s, size_t len)
{
	json_t	*key, *id = NULL;
	size_t	 pos, start, vstart = 0, vend = 0;
	int	 count = 0;

	pos = decode_skip_space(s, len, 0);
	if (pos == len || s[pos] != '{')
		return (NULL);
	pos++;
	for (;;) {
		pos = decode_skip_space(s, len, pos);
		if (pos < len && (s[pos] == ',' || s[pos] == '}')) {
			if (s[pos] == '}')
				break;
			pos++;
			continue;
		}
		start = pos;
		if (decode_skip(s, len, &pos) == -1)
			return (NULL);
		key = json_loadb(s + start, pos - start, DECODE_FLAGS, NULL);
		pos = decode_skip_space(s, len, pos);
		if (pos == len || s[pos] != ':') {
			json_decref(key);
			return (NULL);
		}
		pos = decode_skip_space(s, len, pos + 1);
		start = pos;
		if (decode_skip(s, len, &pos) == -1) {
			json_decref(key);
			return (NULL);
		}
		if (json_is_string(key) && json_string_length(key) == 2 &&
		    memcmp(json_string_value(key), "id", 2) == 0) {
			count++;
			vstart = start;
			vend = pos;
		}
		json_decref(key);
	}
	if (count == 1)
		id = json_loadb(s + vstart, vend - vstart, STRICT_FLAGS, NULL);
	if (id != NULL && !decode_id_readable(id)) {
		json_decref(id);
		id = NULL;
	}
	return (id);
}

/*
 * Decodes one entry's text into holder; entries jansson refuses for a key
 * become invalid requests. Returns 0, or 1 if the text is not JSON.
 */
static int
decode_slow_entry(const char *s, size_t len, json_t *holder,
    struct proto_request *req)
{
	json_error_t	 error;
	json_t		*v, *id;

	v = json_loadb(s, len, STRICT_FLAGS, &error);
	if (v != NULL) {
		json_array_append_new(holder, v);
		decode_request(v, req);
		return (0);
	}
	if (json_error_code(&error) != json_error_duplicate_key &&
	    json_error_code(&error) != json_error_null_byte_in_key)
		return (1);
	memset(req, 0, sizeof *req);
	id = decode_slow_id(s, len);
	if (id != NULL)
		json_array_append_new(holder, id);
	decode_invalid(req, id, json_error_code(&error) ==
	    json_error_duplicate_key ? "duplicate member name" :
	    "strings must not hold NUL characters");
	return (0);
}

/* Counts the entries of a batch whose text jansson refused; -1 if garbled. */
static ssize_t
decode_slow_count(const char *s, size_t len, size_t pos)
{
	ssize_t	n = 0;

	for (;;) {
		pos = decode_skip_space(s, len, pos);
		if (pos < len && s[pos] == ']' && n == 0)
			break;
		if (decode_skip(s, len, &pos) == -1)
			return (-1);
		n++;
		pos = decode_skip_space(s, len, pos);
		if (pos == len)
			return (-1);
		if (s[pos] == ']')
			break;
		if (s[pos++] != ',')
			return (-1);
	}
	if (decode_skip_space(s, len, pos + 1) != len)
		return (-1);
	return (n);
}

/*
 * jansson stops at the first refused key, so the rest of the line has not
 * been checked yet: parse a copy with duplicates allowed and every \u0000
 * escape turned into \u0001. Returns 1 if the line is JSON, 0 if not, -1
 * on out of memory.
 */
static int
decode_slow_valid(const char *s, size_t len)
{
	json_error_t	 error;
	json_t		*v;
	char		*copy;
	size_t		 i;

	if ((copy = malloc(len + 1)) == NULL)
		return (-1);
	memcpy(copy, s, len);
	for (i = 0; i + 1 < len; i++) {
		if (copy[i] != '\\')
			continue;
		if (len - i >= 6 && memcmp(copy + i + 1, "u0000", 5) == 0)
			copy[i + 5] = '1';
		i++;
	}
	v = json_loadb(copy, len, DECODE_FLAGS, &error);
	free(copy);
	if (v != NULL) {
		json_decref(v);
		return (1);
	}
	return (json_error_code(&error) == json_error_out_of_memory ? -1 : 0);
}

static int
decode_slow(const char *s, size_t len, struct proto_message *msg)
{
	size_t	pos, start, i;
	ssize_t	n;
	int	valid;

	if ((valid = decode_slow_valid(s, len)) != 1) {
		msg->parse_error = (valid == 0);
		return (valid == 0 ? 0 : -1);
	}
	if ((msg->root = json_array()) == NULL)
		return (-1);
	pos = decode_skip_space(s, len, 0);
	if (pos == len || s[pos] != '[') {
		if (decode_alloc(msg, 1) == -1)
			return (-1);
		if (decode_slow_entry(s, len, msg->root, &msg->requests[0]))
			goto parse_error;
		return (0);
	}
	if ((n = decode_slow_count(s, len, pos + 1)) <= 0)
		goto parse_error;
	msg->batch = 1;
	if (decode_alloc(msg, n) == -1)
		return (-1);
	pos++;
	for (i = 0; i < (size_t)n; i++) {
		pos = decode_skip_space(s, len, pos);
		start = pos;
		decode_skip(s, len, &pos);
		if (decode_slow_entry(s + start, pos - start, msg->root,
		    &msg->requests[i]))
			goto parse_error;
		pos = decode_skip_space(s, len, pos) + 1;
	}
	return (0);

parse_error:
	proto_message_clear(msg);
	msg->parse_error = 1;
	return (0);
}
