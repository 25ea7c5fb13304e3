/* SPDX-License-Identifier: ISC */
/*
 * Base64 (RFC 4648, with padding) for byte-exact worker output.
 */

#include "config.h"

#include <string.h>

#include "proto.h"

static const char	base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encodes len bytes into out (room for proto_base64_bound(len)). */
size_t
proto_base64_encode(const void *in, size_t len, char *out)
{
	const unsigned char	*p = in;
	size_t			 i, o = 0;
	unsigned long		 v;

	for (i = 0; i + 2 < len; i += 3) {
		v = (unsigned long)p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		out[o++] = base64_alphabet[v >> 18 & 63];
		out[o++] = base64_alphabet[v >> 12 & 63];
		out[o++] = base64_alphabet[v >> 6 & 63];
		out[o++] = base64_alphabet[v & 63];
	}
	if (i < len) {
		v = (unsigned long)p[i] << 16;
		if (i + 1 < len)
			v |= p[i + 1] << 8;
		out[o++] = base64_alphabet[v >> 18 & 63];
		out[o++] = base64_alphabet[v >> 12 & 63];
		out[o++] = i + 1 < len ? base64_alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return (o);
}

size_t
proto_base64_bound(size_t len)
{
	return ((len + 2) / 3 * 4 + 1);
}

static int
base64_value(char c)
{
	const char	*p;

	if (c == '\0' || (p = strchr(base64_alphabet, c)) == NULL)
		return (-1);
	return ((int)(p - base64_alphabet));
}

/*
 * Decodes base64 text into out (room for len * 3 / 4 bytes). Returns the
 * bytes written, or -1 if the text is not base64.
 */
ssize_t
proto_base64_decode(const char *in, size_t len, void *out)
{
	unsigned char	*q = out;
	size_t		 i, o = 0;
	unsigned long	 v;
	int		 k, d, pad;

	if (len % 4 != 0)
		return (-1);
	for (i = 0; i < len; i += 4) {
		v = 0;
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (pad > 0 || (d = base64_value(in[i + k])) == -1)
				return (-1);
			v = v << 6 | (unsigned long)d;
		}
		q[o++] = v >> 16 & 0xff;
		if (pad < 2)
			q[o++] = v >> 8 & 0xff;
		if (pad < 1)
			q[o++] = v & 0xff;
	}
	return ((ssize_t)o);
}
