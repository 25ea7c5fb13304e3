/* SPDX-License-Identifier: ISC */
/*
 * A job's retained output: the last `limit` bytes it wrote, as records
 * (stream and bytes) in arrival order. The oldest record is cut or dropped
 * first; truncated says that something was. Consecutive chunks of one
 * stream share a record, so small writes cost little.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "procd.h"

#define LOGBUF_RECORD_MIN	4096

struct log_record {
	TAILQ_ENTRY(log_record)	 entry;
	int			 stream;
	size_t			 off;		/* first byte still kept */
	size_t			 len;		/* bytes stored, from 0 */
	size_t			 cap;
	char			 data[];
};

void
logbuf_init(struct logbuf *lb, size_t limit)
{
	TAILQ_INIT(&lb->records);
	lb->size = 0;
	lb->limit = limit;
	lb->truncated = 0;
}

static void
logbuf_drop_first(struct logbuf *lb)
{
	struct log_record	*r = TAILQ_FIRST(&lb->records);

	lb->size -= r->len - r->off;
	TAILQ_REMOVE(&lb->records, r, entry);
	free(r);
}

void
logbuf_clear(struct logbuf *lb)
{
	while (!TAILQ_EMPTY(&lb->records))
		logbuf_drop_first(lb);
}

/* Cuts the oldest output until no more than the limit is kept. */
static void
logbuf_trim(struct logbuf *lb)
{
	struct log_record	*r;
	size_t			 over;

	while (lb->size > lb->limit) {
		lb->truncated = 1;
		r = TAILQ_FIRST(&lb->records);
		over = lb->size - lb->limit;
		if (over >= r->len - r->off) {
			logbuf_drop_first(lb);
			continue;
		}
		r->off += over;
		lb->size -= over;
	}
}

void
logbuf_append(struct logbuf *lb, int stream, const char *data, size_t len)
{
	struct log_record	*r;
	size_t			 cap;

	if (len > lb->limit) {
		/* Only the end of this chunk can be kept. */
		logbuf_clear(lb);
		lb->truncated = 1;
		data += len - lb->limit;
		len = lb->limit;
	}
	if (len == 0)
		return;
	r = TAILQ_LAST(&lb->records, log_records);
	if (r == NULL || r->stream != stream || r->cap - r->len < len) {
		cap = len < LOGBUF_RECORD_MIN ? LOGBUF_RECORD_MIN : len;
		if (cap > lb->limit)
			cap = lb->limit;
		r = xmalloc(sizeof *r + cap);
		r->stream = stream;
		r->off = r->len = 0;
		r->cap = cap;
		TAILQ_INSERT_TAIL(&lb->records, r, entry);
	}
	memcpy(r->data + r->len, data, len);
	r->len += len;
	lb->size += len;
	logbuf_trim(lb);
}

/*
 * Where the last `tail` lines of the selected streams start: sets *first
 * and *off to the record and offset. A final line without "\n" counts.
 */
static void
logbuf_tail_start(const struct logbuf *lb, int streams, long long tail,
    struct log_record **first, size_t *off)
{
	struct log_record	*r;
	size_t			 i;
	long long		 seen = 0;
	int			 at_end = 1;

	*first = TAILQ_FIRST(&lb->records);
	*off = *first != NULL ? (*first)->off : 0;
	if (tail < 0)
		return;
	TAILQ_FOREACH_REVERSE(r, &lb->records, log_records, entry) {
		if (!(streams & (1 << r->stream)))
			continue;
		for (i = r->len; i > r->off; i--) {
			if (r->data[i - 1] != '\n') {
				at_end = 0;
				continue;
			}
			/* The "\n" that ends the very last line opens none. */
			if (at_end) {
				at_end = 0;
				continue;
			}
			if (++seen == tail) {
				*first = r;
				*off = i;
				return;
			}
		}
	}
}

const char *
logbuf_stream_name(int stream)
{
	return (stream == LOG_STDERR ? "stderr" : "stdout");
}

/*
 * Calls cb for each retained chunk of the selected streams (a bit set of
 * 1 << stream), only the last tail lines if tail >= 0, in arrival order.
 * cb's last argument says the chunk is the last of its stream here.
 */
void
logbuf_walk(const struct logbuf *lb, int streams, long long tail,
    logbuf_cb cb, void *arg)
{
	struct log_record	*r, *first, *last[2] = { NULL, NULL };
	size_t			 off;

	if (tail == 0)
		return;
	logbuf_tail_start(lb, streams, tail, &first, &off);
	for (r = first; r != NULL; r = TAILQ_NEXT(r, entry)) {
		if (streams & (1 << r->stream))
			last[r->stream] = r;
	}
	for (r = first; r != NULL; r = TAILQ_NEXT(r, entry)) {
		if (!(streams & (1 << r->stream)))
			continue;
		if (r != first)
			off = r->off;
		if (off == r->len && r != last[r->stream])
			continue;
		cb(r->stream, r->data + off, r->len - off,
		    r == last[r->stream], arg);
	}
}
