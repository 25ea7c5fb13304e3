/* SPDX-License-Identifier: ISC */
/*
 * Line framing: one JSON message per line, "\r\n" or "\n", with a length
 * limit enforced before the whole line has even arrived.
 */

#include "config.h"

#include <string.h>

#include "proto.h"

int
proto_frame_next(const char *buf, size_t len, size_t max, size_t *linelen,
    size_t *used)
{
	const char	*nl;
	size_t		 n;

	nl = memchr(buf, '\n', len);
	if (nl == NULL) {
		/* Room for one "\r" that may still turn out to end the line. */
		if (len > max + 1 || (len == max + 1 && buf[max] != '\r'))
			return (-1);
		return (0);
	}
	n = nl - buf;
	*used = n + 1;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	if (n > max)
		return (-1);
	*linelen = n;
	return (1);
}

/*
 * A line of spaces and tabs is as empty as "" to a person typing at socat;
 * answering it with a parse error would only confuse them.
 */
int
proto_frame_blank(const char *line, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return (0);
	}
	return (1);
}
