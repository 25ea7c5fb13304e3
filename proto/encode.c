/* SPDX-License-Identifier: ISC */
/*
 * Building JSON-RPC 2.0 envelopes and encoding them as lines.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static json_t *
encode_envelope(json_t *id)
{
	json_t	*msg;

	msg = json_object();
	if (msg == NULL)
		return (NULL);
	json_object_set_new(msg, "jsonrpc", json_string("2.0"));
	json_object_set(msg, "id", id != NULL ? id : json_null());
	return (msg);
}

json_t *
proto_request_new(const char *method, json_t *params, json_t *id)
{
	json_t	*msg;

	if ((msg = encode_envelope(id)) == NULL) {
		json_decref(params);
		return (NULL);
	}
	json_object_set_new(msg, "method", json_string(method));
	if (params != NULL)
		json_object_set_new(msg, "params", params);
	return (msg);
}

json_t *
proto_notification_new(const char *method, json_t *params)
{
	json_t	*msg;

	msg = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
	if (msg == NULL) {
		json_decref(params);
		return (NULL);
	}
	if (params != NULL)
		json_object_set_new(msg, "params", params);
	return (msg);
}

json_t *
proto_result_new(json_t *id, json_t *result)
{
	json_t	*msg;

	if ((msg = encode_envelope(id)) == NULL) {
		json_decref(result);
		return (NULL);
	}
	json_object_set_new(msg, "result", result != NULL ? result :
	    json_null());
	return (msg);
}

json_t *
proto_error_new(json_t *id, int code, const char *message, json_t *data)
{
	json_t	*msg, *error;

	if (message == NULL)
		message = proto_code_message(code);
	error = json_pack("{s:i, s:s}", "code", code, "message", message);
	if (error == NULL || (msg = encode_envelope(id)) == NULL) {
		json_decref(error);
		json_decref(data);
		return (NULL);
	}
	if (data != NULL)
		json_object_set_new(error, "data", data);
	json_object_set_new(msg, "error", error);
	return (msg);
}

/*
 * The fewest significant digits (15 to 17) that bring every real in v back
 * exactly, so that 0.1 prints as 0.1 and an id like 1.2345678901234567
 * is echoed unchanged.
 */
static int
encode_precision(const json_t *v, int p)
{
	const char	*key;
	json_t		*member;
	char		 buf[40];
	size_t		 i;

	switch (json_typeof(v)) {
	case JSON_REAL:
		for (; p < 17; p++) {
			snprintf(buf, sizeof buf, "%.*g", p, json_real_value(v));
			if (strtod(buf, NULL) == json_real_value(v))
				break;
		}
		return (p);
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v) && p < 17; i++)
			p = encode_precision(json_array_get(v, i), p);
		return (p);
	case JSON_OBJECT:
		json_object_foreach((json_t *)v, key, member) {
			if (p == 17)
				break;
			p = encode_precision(member, p);
		}
		return (p);
	default:
		return (p);
	}
}

/* Compact JSON text of v, malloc'd; NULL on failure. */
char *
proto_dump(const json_t *v)
{
	return (json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(encode_precision(v, 15))));
}

char *
proto_encode(const json_t *msg, size_t *len)
{
	char	*text, *line;
	size_t	 n;

	if ((text = proto_dump(msg)) == NULL)
		return (NULL);
	n = strlen(text);
	/* json_dumps leaves room only for the NUL; make room for "\n". */
	if ((line = realloc(text, n + 2)) == NULL) {
		free(text);
		return (NULL);
	}
	text = line;
	text[n] = '\n';
	text[n + 1] = '\0';
	if (len != NULL)
		*len = n + 1;
	return (text);
}

/*
 * Writes s (valid UTF-8, len bytes) as the inside of a JSON string, without
 * the quotes, into out (room for proto_json_quote_bound(len)). Returns the
 * bytes written.
 */
size_t
proto_json_quote(const char *s, size_t len, char *out)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 i, o = 0;
	unsigned char		 ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else if (ch == '\t') {
			out[o++] = '\\';
			out[o++] = 't';
		} else if (ch == '\r') {
			out[o++] = '\\';
			out[o++] = 'r';
		} else if (ch < 0x20 || ch == 0x7f) {
			memcpy(out + o, "\\u00", 4);
			out[o + 4] = hex[ch >> 4];
			out[o + 5] = hex[ch & 15];
			o += 6;
		} else
			out[o++] = (char)ch;
	}
	return (o);
}

/*
 * An upper bound of the bytes one byte of text becomes inside a JSON
 * string once invalid UTF-8 is replaced (U+FFFD, 3 bytes) and quoted as
 * proto_json_quote does.
 */
size_t
proto_json_text_cost(unsigned char ch)
{
	if (ch >= 0x80)
		return (3);
	if (ch == '"' || ch == '\\' || ch == '\n' || ch == '\t' || ch == '\r')
		return (2);
	if (ch < 0x20 || ch == 0x7f)
		return (6);
	return (1);
}

size_t
proto_json_quote_bound(size_t len)
{
	return (len * 6 + 1);
}
