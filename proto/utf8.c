/* SPDX-License-Identifier: ISC */
/*
 * Worker output as text: bytes that are not UTF-8 become U+FFFD, one per
 * maximal ill-formed subpart (as Python's "replace" does). The decoder
 * keeps an incomplete sequence between calls, so a character split
 * between two reads stays whole.
 */

#include "config.h"

#include <string.h>

#include "proto.h"

static const char	utf8_replacement[] = "\xef\xbf\xbd";

static size_t
utf8_replace(char *out)
{
	memcpy(out, utf8_replacement, 3);
	return (3);
}

/* Starts a sequence at lead byte b; returns 0 if b cannot start one. */
static int
utf8_start(struct proto_utf8 *st, unsigned char b)
{
	st->lo = 0x80;
	st->hi = 0xbf;
	if (b >= 0xc2 && b <= 0xdf)
		st->need = 2;
	else if (b >= 0xe0 && b <= 0xef) {
		st->need = 3;
		if (b == 0xe0)
			st->lo = 0xa0;
		else if (b == 0xed)
			st->hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		st->need = 4;
		if (b == 0xf0)
			st->lo = 0x90;
		else if (b == 0xf4)
			st->hi = 0x8f;
	} else
		return (0);
	st->seq[0] = b;
	st->have = 1;
	return (1);
}

/*
 * Decodes len bytes into out, which has room for proto_utf8_bound(len).
 * With final set, an incomplete sequence at the end is replaced too.
 * Returns the bytes written.
 */
size_t
proto_utf8_decode(struct proto_utf8 *st, const void *in, size_t len,
    int final, char *out)
{
	const unsigned char	*p = in;
	size_t			 i = 0, o = 0;
	unsigned char		 b;

	while (i < len) {
		b = p[i];
		if (st->have == 0) {
			i++;
			if (b < 0x80)
				out[o++] = (char)b;
			else if (!utf8_start(st, b))
				o += utf8_replace(out + o);
			continue;
		}
		if (b < st->lo || b > st->hi) {
			/* The subpart so far is ill-formed; b starts afresh. */
			o += utf8_replace(out + o);
			st->have = 0;
			continue;
		}
		i++;
		st->seq[st->have++] = b;
		st->lo = 0x80;
		st->hi = 0xbf;
		if (st->have == st->need) {
			memcpy(out + o, st->seq, st->need);
			o += st->need;
			st->have = 0;
		}
	}
	if (final && st->have > 0) {
		o += utf8_replace(out + o);
		st->have = 0;
	}
	return (o);
}

size_t
proto_utf8_bound(size_t len)
{
	return (len * 3 + 4);
}
