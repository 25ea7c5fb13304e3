/* SPDX-License-Identifier: ISC */
/*
 * Base64 (RFC 4648, with padding) for byte-exact worker output.
 */

#include "config.h"

#include <string.h>

#include "proto.h"

static const char	base64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * The two characters of every 12 bits: a 3-byte group is two lookups
 * instead of four. Worker output in base64 goes through here byte for
 * byte, so this is on the output path's hot spot. Filled on first use
 * (procd and procctl are single-threaded).
 */
static char	base64_pairs[4096][2];

static void
base64_pairs_fill(void)
{
	size_t	i;

	for (i = 0; i < 4096; i++) {
		base64_pairs[i][0] = base64_alphabet[i >> 6];
		base64_pairs[i][1] = base64_alphabet[i & 63];
	}
}

/* Encodes len bytes into out (room for proto_base64_bound(len)). */
size_t
proto_base64_encode(const void *in, size_t len, char *out)
{
	static int		 filled;
	const unsigned char	*p = in;
	size_t			 i, o = 0;
	unsigned long		 v;

	if (!filled) {
		base64_pairs_fill();
		filled = 1;
	}
	for (i = 0; i + 2 < len; i += 3, o += 4) {
		v = (unsigned long)p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		memcpy(out + o, base64_pairs[v >> 12], 2);
		memcpy(out + o + 2, base64_pairs[v & 0xfff], 2);
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
