/* SPDX-License-Identifier: ISC */
/*
 * Worker output as text: bytes that are not UTF-8 become U+FFFD, one per
 * maximal ill-formed subpart (as Python's "replace" does). The decoder
 * keeps an incomplete sequence between calls, so a character split
 * between two reads stays whole.
 */

#include "config.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
 * Offers b to the sequence st holds. Returns 1 if b was taken; the
 * character is written to out once whole (*o counts the bytes written).
 * Returns 0 if b cannot continue it: the subpart so far is ill-formed and
 * written as U+FFFD, and b must be read afresh.
 */
static int
utf8_continue(struct proto_utf8 *st, unsigned char b, char *out, size_t *o)
{
	if (b < st->lo || b > st->hi) {
		*o += utf8_replace(out + *o);
		st->have = 0;
		return (0);
	}
	st->seq[st->have++] = b;
	st->lo = 0x80;
	st->hi = 0xbf;
	if (st->have == st->need) {
		memcpy(out + *o, st->seq, st->need);
		*o += st->need;
		st->have = 0;
	}
	return (1);
}

/* At the end of the input (final), a sequence left unfinished is one
 * replacement character. Returns the bytes written. */
static size_t
utf8_finish(struct proto_utf8 *st, int final, char *out)
{
	if (!final || st->have == 0)
		return (0);
	st->have = 0;
	return (utf8_replace(out));
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
		if (utf8_continue(st, b, out, &o))
			i++;
	}
	return (o + utf8_finish(st, final, out + o));
}

size_t
proto_utf8_bound(size_t len)
{
	return (len * 3 + 4);
}

/*
 * Each ASCII byte as it is inside a JSON string, from proto_json_quote
 * (its length, then its bytes): a look-up instead of a call per escape,
 * which text with quotes, tabs and short lines has every few bytes. Filled
 * on first use (procd and procctl are single-threaded).
 */
static unsigned char	utf8_ascii[128][8];

static void
utf8_ascii_fill(void)
{
	char	c;
	int	i;

	for (i = 0; i < 128; i++) {
		c = (char)i;
		utf8_ascii[i][0] = proto_json_quote(&c, 1,
		    (char *)utf8_ascii[i] + 1);
	}
}

/* As many bytes from in as need no escape in a JSON string, copied. */
static size_t
utf8_copy_plain(const unsigned char *in, size_t len, char *out)
{
	size_t	i;

	for (i = 0; i < len && in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' &&
	    in[i] != '\\'; i++)
		out[i] = (char)in[i];
	return (i);
}

#ifdef __SSE2__
/*
 * The bytes of x that a JSON string cannot hold as they are, as bits:
 * below 0x20, '"', '\\', 0x7f, and (as signed bytes, below 0x20 too) all
 * of 0x80 and up, which the decoder must see.
 */
static int
utf8_special(__m128i x)
{
	return (_mm_movemask_epi8(_mm_or_si128(
	    _mm_or_si128(_mm_cmplt_epi8(x, _mm_set1_epi8(0x20)),
	    _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f))),
	    _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')),
	    _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'))))));
}

/*
 * Quotes ASCII from in into out 16 bytes at a time: a block is stored
 * whole, then each escape in it is written over it in place, followed by
 * the rest of the block again. Stops before a byte of 0x80 or more (for
 * the decoder), or where fewer than 32 bytes are left, since a block's
 * rest is read from past its end. out has room for six bytes per byte of
 * in, so 16 bytes always fit. Sets *olen to the bytes written; returns
 * the bytes read.
 */
static size_t
utf8_quote_ascii(const unsigned char *in, size_t len, char *out,
    size_t *olen)
{
	__m128i		x;
	size_t		i = 0, o = 0, at;
	unsigned char	c;
	int		bits, pos;

	while (i + 32 <= len) {
		x = _mm_loadu_si128((const __m128i *)(in + i));
		_mm_storeu_si128((__m128i *)(out + o), x);
		if ((bits = utf8_special(x)) == 0) {
			i += 16;
			o += 16;
			continue;
		}
		for (at = 0; bits != 0; bits &= bits - 1) {
			pos = __builtin_ctz(bits);
			o += (size_t)pos - at;
			if ((c = in[i + pos]) >= 0x80) {
				*olen = o;
				return (i + pos);
			}
			memcpy(out + o, utf8_ascii[c] + 1, 6);
			o += utf8_ascii[c][0];
			at = pos + 1;
			_mm_storeu_si128((__m128i *)(out + o),
			    _mm_loadu_si128((const __m128i *)(in + i + at)));
		}
		o += 16 - at;
		i += 16;
	}
	*olen = o;
	return (i);
}
#else
static size_t
utf8_quote_ascii(const unsigned char *in, size_t len, char *out,
    size_t *olen)
{
	*olen = 0;
	return (0);
}
#endif

/*
 * A sequence just started (st holds its lead byte) and in has the rest of
 * it, well-formed: copies it whole to out and returns its length. Else
 * returns 0, and the bytes go through the decoder one by one.
 */
static size_t
utf8_copy_whole(struct proto_utf8 *st, const unsigned char *in, size_t len,
    char *out)
{
	int	k;

	if (len < (size_t)st->need - 1 || in[0] < st->lo || in[0] > st->hi)
		return (0);
	for (k = 1; k < st->need - 1; k++) {
		if (in[k] < 0x80 || in[k] > 0xbf)
			return (0);
	}
	out[0] = (char)st->seq[0];
	memcpy(out + 1, in, st->need - 1);
	st->have = 0;
	return (st->need);
}

/*
 * proto_utf8_decode and then proto_json_quote, in one pass and with the
 * same result: the inside of a JSON string for len bytes of worker output,
 * into out (room for proto_utf8_quote_bound(len)). Only ASCII needs
 * quoting, and the decoder passes ASCII through unchanged, so a byte below
 * 0x80 is quoted where the decoder would copy it. Plain runs and whole
 * characters, most of any text, are copied in one go.
 */
size_t
proto_utf8_quote(struct proto_utf8 *st, const void *in, size_t len,
    int final, char *out)
{
	static int		 filled;
	const unsigned char	*p = in;
	size_t			 i = 0, o = 0, n;
	unsigned char		 b;

	if (!filled) {
		utf8_ascii_fill();
		filled = 1;
	}
	while (i < len) {
		if (st->have == 0) {
			i += utf8_quote_ascii(p + i, len - i, out + o, &n);
			o += n;
			n = utf8_copy_plain(p + i, len - i, out + o);
			i += n;
			o += n;
			if (i == len)
				break;
			b = p[i++];
			if (b < 0x80) {
				/* Its escape, copied by a fixed six bytes. */
				memcpy(out + o, utf8_ascii[b] + 1, 6);
				o += utf8_ascii[b][0];
			} else if (!utf8_start(st, b))
				o += utf8_replace(out + o);
			else if ((n = utf8_copy_whole(st, p + i, len - i,
			    out + o)) > 0) {
				i += n - 1;
				o += n;
			}
			continue;
		}
		if (utf8_continue(st, p[i], out, &o))
			i++;
	}
	return (o + utf8_finish(st, final, out + o));
}

/*
 * Six bytes at most for each byte (a control character), and what a
 * sequence held from the last call and one left at the end add.
 */
size_t
proto_utf8_quote_bound(size_t len)
{
	return (len * 6 + 8);
}
