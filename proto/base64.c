/* SPDX-License-Identifier: ISC */
/*
 * Base64 (RFC 4648, with padding) for byte-exact worker output.
 */

#include "config.h"

#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define BASE64_AVX2
#endif

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

#ifdef BASE64_AVX2
/*
 * 24 bytes into 32 characters at a time (Wojciech Muła's method): each
 * 128-bit lane spreads 12 bytes over four 32-bit words, two multiplies
 * move each 6-bit field into a byte of its own, and a 16-entry table
 * gives the offset from a field to its character in the alphabet. Worker
 * output in base64 is mostly this loop: about five times the speed of
 * the pair table. Each round reads 4 bytes past the 24 it encodes, so the
 * loop stops 28 bytes from the end. Returns the bytes it encoded.
 */
__attribute__((target("avx2")))
static size_t
base64_encode_avx2(const unsigned char *in, size_t len, char *out)
{
	const __m256i	spread = _mm256_setr_epi8(
			    1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,
			    1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
	const __m256i	offsets = _mm256_setr_epi8(
			    'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			    '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			    '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0,
			    'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			    '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
			    '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
	__m256i		v, hi, lo, idx, sel;
	size_t		i;

	for (i = 0; i + 28 <= len; i += 24, out += 32) {
		v = _mm256_castsi128_si256(_mm_loadu_si128(
		    (const __m128i *)(in + i)));
		v = _mm256_inserti128_si256(v, _mm_loadu_si128(
		    (const __m128i *)(in + i + 12)), 1);
		v = _mm256_shuffle_epi8(v, spread);
		/* Fields 0 and 2 of each word down, 1 and 3 up. */
		hi = _mm256_mulhi_epu16(_mm256_and_si256(v,
		    _mm256_set1_epi32(0x0fc0fc00)),
		    _mm256_set1_epi32(0x04000040));
		lo = _mm256_mullo_epi16(_mm256_and_si256(v,
		    _mm256_set1_epi32(0x003f03f0)),
		    _mm256_set1_epi32(0x01000010));
		idx = _mm256_or_si256(hi, lo);
		/* Which range a field is in: 0-25 13, 26-51 0, then 1-12. */
		sel = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
		sel = _mm256_or_si256(sel, _mm256_and_si256(
		    _mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx),
		    _mm256_set1_epi8(13)));
		v = _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, sel));
		_mm256_storeu_si256((__m256i *)out, v);
	}
	return (i);
}
#endif

/* Encodes len bytes into out (room for proto_base64_bound(len)). */
size_t
proto_base64_encode(const void *in, size_t len, char *out)
{
	static int		 filled, avx2;
	const unsigned char	*p = in;
	size_t			 i = 0, o = 0;
	unsigned long		 v;

	if (!filled) {
		base64_pairs_fill();
#ifdef BASE64_AVX2
		avx2 = __builtin_cpu_supports("avx2");
#endif
		filled = 1;
	}
#ifdef BASE64_AVX2
	if (avx2) {
		i = base64_encode_avx2(p, len, out);
		o = i / 3 * 4;
	}
#endif
	for (; i + 2 < len; i += 3, o += 4) {
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
