/* SPDX-License-Identifier: ISC */
/*
 * A job's retained output: the last `limit` bytes it wrote, as records
 * (stream and bytes) in arrival order. The oldest record is cut or dropped
 * first; truncated says that something was. Consecutive chunks of one
 * stream share a record, so small writes cost little, and a record is
 * cut to its bytes once another follows it, so that the memory stays near
 * the limit (and a header per record) however the output comes. The pipes
 * are read straight into the newest record (logbuf_reserve and
 * logbuf_commit): output is copied once on its way in.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "procd.h"

#define LOGBUF_RECORD_MIN	4096
#define LOGBUF_ROOM_MIN		1024	/* less left: a read starts a record */

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

/* Resizes the newest record to cap bytes, no fewer than it holds. */
static struct log_record *
logbuf_resize_last(struct logbuf *lb, size_t cap)
{
	struct log_record	*r = TAILQ_LAST(&lb->records, log_records);

	/* realloc may move it: off the list meanwhile. */
	TAILQ_REMOVE(&lb->records, r, entry);
	r = xreallocarray(r, 1, sizeof *r + cap);
	r->cap = cap;
	TAILQ_INSERT_TAIL(&lb->records, r, entry);
	return (r);
}

/*
 * Gives back the room the newest record will no longer use, before
 * another is made. Without this, output that switches streams at every
 * read (a byte of stdout, a byte of stderr, ...) would hold a
 * LOGBUF_RECORD_MIN record for each byte kept.
 */
static void
logbuf_fit_last(struct logbuf *lb)
{
	struct log_record	*r = TAILQ_LAST(&lb->records, log_records);

	if (r != NULL && r->cap - r->len >= LOGBUF_ROOM_MIN)
		logbuf_resize_last(lb, r->len);
}

/* A new newest record, with room for cap bytes. */
static struct log_record *
logbuf_record_new(struct logbuf *lb, int stream, size_t cap)
{
	struct log_record	*r;

	logbuf_fit_last(lb);
	r = xmalloc(sizeof *r + cap);
	r->stream = stream;
	r->off = r->len = 0;
	r->cap = cap;
	TAILQ_INSERT_TAIL(&lb->records, r, entry);
	return (r);
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
		r = logbuf_record_new(lb, stream, cap);
	}
	memcpy(r->data + r->len, data, len);
	r->len += len;
	lb->size += len;
	logbuf_trim(lb);
}

/*
 * Room at the end of the log for up to want bytes of stream, to read
 * into: *room bytes from the address returned, kept by logbuf_commit,
 * which must come before anything else touches lb. NULL if the limit is
 * too small to read into; logbuf_append a copy then.
 */
char *
logbuf_reserve(struct logbuf *lb, int stream, size_t want, size_t *room)
{
	struct log_record	*r;
	size_t			 cap;

	if (lb->limit < LOGBUF_RECORD_MIN || want == 0)
		return (NULL);
	r = TAILQ_LAST(&lb->records, log_records);
	if (r == NULL || r->stream != stream ||
	    r->cap - r->len < LOGBUF_ROOM_MIN) {
		cap = want < lb->limit ? want : lb->limit;
		if (cap < LOGBUF_RECORD_MIN)
			cap = LOGBUF_RECORD_MIN;
		r = logbuf_record_new(lb, stream, cap);
	}
	*room = r->cap - r->len < want ? r->cap - r->len : want;
	return (r->data + r->len);
}

/*
 * Keeps the len bytes read into logbuf_reserve's room, and returns where
 * they are now (NULL if len is 0): they stay there, all of them, until lb
 * changes again. A record made for a read that brought little gives back
 * most of its room at once; the next reads of its stream fill the rest.
 */
const char *
logbuf_commit(struct logbuf *lb, size_t len)
{
	struct log_record	*r = TAILQ_LAST(&lb->records, log_records);
	size_t			 cap;

	r->len += len;
	lb->size += len;
	if (r->len == 0) {
		TAILQ_REMOVE(&lb->records, r, entry);
		free(r);
		return (NULL);
	}
	cap = r->len < LOGBUF_RECORD_MIN ? LOGBUF_RECORD_MIN : r->len;
	if (r->len < r->cap / 2 && cap < r->cap)
		r = logbuf_resize_last(lb, cap);
	/* The newest record holds no more than the limit: none is cut. */
	logbuf_trim(lb);
	return (len > 0 ? r->data + r->len - len : NULL);
}

/*
 * Where the last `tail` lines of the selected streams start, per stream:
 * sets first[s] and off[s] to the record and offset of stream s's first
 * kept byte (first[s] NULL: all of it).
 *
 * Each stream is its own byte sequence, so its lines are its own: a line
 * ends at its "\n", or, for a stream's unfinished last line, at its last
 * byte. The kept lines are the `tail` whose ends came last. Walking back
 * from the newest byte, every line end is counted; past the tail-th, the
 * next line end met in each stream is the newest one it must drop, and
 * that stream starts right after it.
 */
static void
logbuf_tail_start(const struct logbuf *lb, int streams, long long tail,
    struct log_record **first, size_t *off)
{
	struct log_record	*r;
	size_t			 i;
	long long		 ends = 0;
	int			 seen[2] = { 0, 0 }, fixed = 0, s;

	first[0] = first[1] = NULL;
	off[0] = off[1] = 0;
	if (tail < 0)
		return;
	TAILQ_FOREACH_REVERSE(r, &lb->records, log_records, entry) {
		s = r->stream;
		if (!(streams & (1 << s)) || (fixed & (1 << s)))
			continue;
		for (i = r->len; i > r->off; i--) {
			/* A stream's last byte ends a line, "\n" or not. */
			if (r->data[i - 1] != '\n' && seen[s]++ > 0)
				continue;
			seen[s] = 1;
			if (ends++ < tail)
				continue;
			first[s] = r;
			off[s] = i;
			fixed |= 1 << s;
			break;
		}
		if (fixed == streams)
			return;
	}
}

const char *
logbuf_stream_name(int stream)
{
	return (stream == LOG_STDERR ? "stderr" : "stdout");
}

/*
 * Three times an upper bound of the JSON string bytes each byte becomes
 * (thirds, so that base64's 4/3 is exact): base64, or text after UTF-8
 * repair (an invalid byte becomes a 3-byte U+FFFD) and JSON quoting. A
 * table, since the walk looks at every byte it may send.
 */
static const unsigned char *
logbuf_costs(int base64)
{
	static unsigned char	text[256], b64[256];
	static int		ready;
	int			i;

	if (!ready) {
		for (i = 0; i < 256; i++) {
			text[i] = 3 * proto_json_text_cost((unsigned char)i);
			b64[i] = 4;
		}
		ready = 1;
	}
	return (base64 ? b64 : text);
}

/*
 * Where the newest output that fits bound starts, walking back from the
 * newest byte and counting only what the walk would pass to its callback
 * (the selected streams, from their tail start on). Sets *cut and *cutoff
 * to the first byte kept (*cut NULL: everything fits).
 */
static void
logbuf_fit_start(const struct logbuf *lb, int streams,
    struct log_record **first, const size_t *off,
    const struct logbuf_bound *bound, struct log_record **cut,
    size_t *cutoff)
{
	struct log_record	*r;
	const unsigned char	*cost;
	size_t			 i, from, used = 0, budget;
	int			 passed = 0, s, prev = -1;

	*cut = NULL;
	*cutoff = 0;
	budget = bound->budget > SIZE_MAX / 4 ? SIZE_MAX : bound->budget * 3;
	cost = logbuf_costs(bound->base64);
	TAILQ_FOREACH_REVERSE(r, &lb->records, log_records, entry) {
		s = r->stream;
		if (!(streams & (1 << s)) || (passed & (1 << s)))
			continue;
		from = r == first[s] ? off[s] : r->off;
		if (r == first[s])
			passed |= 1 << s;
		if (from >= r->len)
			continue;
		if (bound->per_record || s != prev)
			used += 3 * bound->overhead;
		prev = s;
		for (i = r->len; i > from; i--) {
			used += cost[(unsigned char)r->data[i - 1]];
			if (used > budget)
				break;
		}
		if (i == from && used <= budget)
			continue;
		/* Byte i - 1 does not fit: keep from i, whole characters. */
		while (!bound->base64 && i < r->len &&
		    ((unsigned char)r->data[i] & 0xc0) == 0x80)
			i++;
		*cut = r;
		*cutoff = i;
		return;
	}
}

/*
 * Calls cb for each retained chunk of the selected streams (a bit set of
 * 1 << stream), only the last tail lines if tail >= 0, and only the
 * newest that fit bound if it is not NULL, in arrival order; never with
 * an empty chunk. cb's last argument says the chunk is the last of its
 * stream here. Returns 1 if bound left out retained output, else 0.
 */
int
logbuf_walk(const struct logbuf *lb, int streams, long long tail,
    const struct logbuf_bound *bound, logbuf_cb cb, void *arg)
{
	struct log_record	*r, *first[2], *last[2] = { NULL, NULL }, *cut;
	size_t			 off[2], from, cutoff;
	int			 started[2], s, reached;

	if (tail == 0)
		return (0);
	logbuf_tail_start(lb, streams, tail, first, off);
	cut = NULL;
	cutoff = 0;
	if (bound != NULL)
		logbuf_fit_start(lb, streams, first, off, bound, &cut, &cutoff);
	TAILQ_FOREACH(r, &lb->records, entry) {
		if (streams & (1 << r->stream))
			last[r->stream] = r;
	}
	started[0] = first[0] == NULL;
	started[1] = first[1] == NULL;
	reached = cut == NULL;
	TAILQ_FOREACH(r, &lb->records, entry) {
		s = r->stream;
		if (!(streams & (1 << s)))
			continue;
		from = r->off;
		if (!started[s]) {
			if (r != first[s])
				continue;
			started[s] = 1;
			from = off[s];
		}
		if (!reached) {
			if (r != cut)
				continue;
			reached = 1;
			if (cutoff > from)
				from = cutoff;
		}
		if (from < r->len)
			cb(s, r->data + from, r->len - from, r == last[s], arg);
	}
	return (cut != NULL);
}

/* Every record's kept bytes, oldest first (for the handoff). */
void
logbuf_each(const struct logbuf *lb, void (*cb)(int, const char *, size_t,
    void *), void *arg)
{
	const struct log_record	*r;

	TAILQ_FOREACH(r, &lb->records, entry)
		cb(r->stream, r->data + r->off, r->len - r->off, arg);
}
