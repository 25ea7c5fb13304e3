/* SPDX-License-Identifier: ISC */
/*
 * The state a reexec hands from one program image to the next, written
 * (handoff_save) and read (handoff_load) side by side in this one file:
 * a field added to one and not the other shows up in review here.
 *
 * The state goes in a memfd. It names the fds that stay open across
 * execve: listening sockets, client sockets, output pipes, the notify
 * socket, cgroup folders and files. Timers go as the time they had left.
 * logs answers half built are finished before saving (client_quiesce); a
 * batch half run goes as the requests it has not run yet, as they were
 * sent; a client's unread input and unwritten output go as bytes.
 *
 * Two formats are read, and the newer one is written:
 *
 * - procd-handoff-1 (HANDOFF_FORMAT_1) is one JSON document. A job was
 *   some 60 JSON values, built, dumped, parsed, checked, taken over and
 *   freed: at 10,000 jobs and 10,000 kept events the switch took over a
 *   second, half of it in jansson and most of the rest in malloc and page
 *   faults. It is still read (hc_*, ha_*), so that a procd that writes it
 *   can be upgraded.
 *
 * - procd-handoff-2 (HANDOFF_FORMAT_2, the layout is below) carries the
 *   same fields as a flat stream of values in a fixed order, written
 *   straight from the structs into the memfd, mapped (h2w_*): integers as
 *   varints, strings and bytes as a length and the bytes (output and
 *   buffers are not base64). The reader (h2r_*) walks it with a cursor
 *   that checks every length against what is left, into plain structs
 *   that point into the mapping; the takeover (h2a_*) builds the jobs and
 *   clients from those. No JSON value is made per field: the one JSON
 *   left is what was JSON to start with (a half-run batch's requests, and
 *   an event's job, which is checked by hand). At 10,000 jobs, 10,000
 *   events and 1,000 clients the state is some 5 MB, and the switch about
 *   a twentieth of what it was.
 *
 * Reading trusts nothing, in either format. The check walks the whole
 * state, each field's type and range, every reference between its parts,
 * that every parked request can still be answered, and (live) every fd it
 * names and that every job's process is procd's child, before the
 * takeover takes any of it; the takeover cannot fail half way. A state
 * the check refuses is never served from. The writer runs the same check
 * (not live: the fds and children are its own) on the state it is about
 * to hand over, so that a state no image would take never costs the jobs;
 * in format 2 that is one more walk over the memfd, which leaves out the
 * text of strings (see h2_check), and the memfd is then sealed.
 */

#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define HANDOFF_MAX_SIZE	(4LL * 1024 * 1024 * 1024)
#define HANDOFF_MAX_FDS		(1 << 20)
#define HANDOFF_MAX_SECONDS	1e9
#define HANDOFF_UINT_MAX	((long long)UINT_MAX)
/* A client's unread input: a line at most, and what one read added. */
#define HANDOFF_INPUT_SLACK	(1024 * 1024)
#define HANDOFF_MAX_GROUPS	65536
#define HANDOFF_MAX_SUB_JOBS	(1024 * 1024)

/* The client flags that carry over; the others are the loop's own. */
#define HANDOFF_CLIENT_FLAGS	(CLIENT_EOF | CLIENT_CLOSING | CLIENT_DISCARD)
/* The job flags, all of which carry over. */
#define HANDOFF_JOB_FLAGS	(JOB_REAPED | JOB_KILLED | JOB_STOP_ASKED | \
				 JOB_EXITED_ONCE)

/* What a parked request waits for. */
static const char *const handoff_kinds[] = {
	"join", "follow", "ready", "reexec", NULL
};
enum handoff_kind { KIND_JOIN, KIND_FOLLOW, KIND_READY, KIND_REEXEC };

/* The formats this program reads (printed by procd --handoff-formats). */
const char *const handoff_formats[] = {
	HANDOFF_FORMAT_2, HANDOFF_FORMAT_1, NULL
};

/* What a check found wrong, and what it needs to know; both formats. */
struct handoff_check {
	char		 why[256];
	int		 live;		/* fds must be open, of their kind */
	json_t		*fds;		/* format 1: fds named so far */
	long long	 pid;		/* procd's, by the document */
};

static int
hc_fail(struct handoff_check *hc, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(hc->why, sizeof hc->why, fmt, ap);
	va_end(ap);
	return (-1);
}

static int
hc_kind(const char *name)
{
	int	i;

	for (i = 0; handoff_kinds[i] != NULL; i++) {
		if (strcmp(handoff_kinds[i], name) == 0)
			return (i);
	}
	return (-1);
}


/* Format 1's values, and a half-run batch's requests in either format. */
static long long
hv_int(const json_t *o, const char *key)
{
	return (json_integer_value(json_object_get(o, key)));
}

static double
hv_num(const json_t *o, const char *key)
{
	const json_t	*v = json_object_get(o, key);

	return (json_is_null(v) ? -1 : json_number_value(v));
}

static const char *
hv_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

static int	hc_batch_rest(struct handoff_check *, const json_t *);

/* ---- format 2 ----------------------------------------------------------- */

/*
 * A procd-handoff-2 state is "procd-handoff-2\n", then these values in
 * this order, and nothing after them:
 *
 * state	version s, pid i, started_at t, image_started_at t,
 *		reexecs i, program S, nofile: soft i, hard i,
 *		listen: path S, owned b, dirfd fd, name S, dev i, ino i,
 *		    sockets n of fd,
 *		notify_fd fd,
 *		cgroup: ok b, why S, root S, rel S, fd fd, kill b,
 *		next_job i, next_client i, next_subscription i, seq i,
 *		events n of event, jobs n of job, clients n of client,
 *		fds n of i (every fd named above, each once)
 * event	seq i, type s, job id i, owner i, the job as JSON text s
 * job		id i, name s, argv n of s, cwd s, pid i, uid i, gid i,
 *		daemon b, stop_timeout d, state s, exitcode i, flags i,
 *		started_at t, ran d, exited_at t,
 *		usage: user us i, system us i, maxrss i,
 *		kill_left l, error S, env m of (key s, value S),
 *		creds: change b, groups n of i,
 *		restart: policy s, delay d, max_delay d, last_delay d,
 *		    limit i, count i, at t, left l, due b,
 *		ready: notify b, ready b, status S, left l,
 *		tree b, and if 1: fd fd, events fd, kill fd, waiting b,
 *		    killed b, user base i, system base i,
 *		parent i,
 *		output: mode i, fds fd fd, grace_left l, limit i,
 *		    truncated b, records n of (stream i, data x)
 * client	fd fd, id i, flags i, discarded i, in x, out x,
 *		batches n of (out x, rest S: the requests not run, as JSON),
 *		requests n of request,
 *		subscriptions n of (id i, jobs m of i, next i)
 * request	kind s, id (i 0: none, a notification; 1: null; 2 then i;
 *		3 then d; 4 then s), job i, left l, batch i, and for a
 *		follow: streams i, base64 b, truncated b, utf8 x x
 *
 *   i	an integer: zigzag, then 7 bits a byte, low first, the high bit
 *	set on all bytes but the last (at most 10, no needless last 0)
 *   b	i, 0 or 1		d  a double, IEEE 754, 8 bytes, low first
 *   s	a string: i length, the bytes (UTF-8, no NUL), then a NUL
 *   S	a string or null: i 0 for null, else i length + 1, then as s
 *   x	bytes: i length, the bytes	t  a time: i seconds, i nanoseconds
 *   l	a timer's time left: b (0: none), then d if 1
 *   n	a count i, then that many	m  i 0 for null, else count + 1
 *   fd	i, -1 for none
 *
 * Every field is format 1's, with its range; flags, modes and states are
 * format 1's values and names. The fds come last: the writer knows them
 * once it has written the rest.
 */
#define H2_MAGIC	HANDOFF_FORMAT_2 "\n"
#define H2_MAGIC_LEN	(sizeof H2_MAGIC - 1)
#define H2_TIME_MAX	(1LL << 40)
#define H2_JSON_DEPTH	32
#define H2_JOB_MIN	64	/* bytes: a job's record is longer */

/* A request's id. */
enum h2_id { H2_ID_NONE, H2_ID_NULL, H2_ID_INT, H2_ID_REAL, H2_ID_STRING };

/* The length of the UTF-8 character at s (not NUL), or 0 if it is none. */
static size_t
h2_utf8_char(const unsigned char *s, size_t len)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		n, i;

	if (s[0] < 0x80)
		return (s[0] != 0);
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return (0);
	if (s[0] < 0xe0)
		n = 2;
	else if (s[0] < 0xf0) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;	/* up to U+10FFFF */
	}
	if (len < n || s[1] < lo || s[1] > hi)
		return (0);
	for (i = 2; i < n; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return (0);
	}
	return (n);
}

/*
 * How many of the 8 bytes at s, from the first, are ASCII and not below
 * low nor one of stop1 and stop2 (each given as 8 copies of a byte)?
 * Eight at a time, as most text is: a byte subtracted from wraps to its
 * high bit only where it was zero (below low); above the first such byte
 * a borrow may set more, so the first set bit is the first byte to stop.
 */
#define H2_ONES		0x0101010101010101ULL
#define H2_HIGHS	0x8080808080808080ULL
static size_t
h2_plain8(const unsigned char *s, uint64_t low, uint64_t stop1,
    uint64_t stop2)
{
	uint64_t	x, a, b, m;

	memcpy(&x, s, sizeof x);
	a = x ^ stop1;
	b = x ^ stop2;
	m = (x | ((x - low) & ~x) | ((a - H2_ONES) & ~a) |
	    ((b - H2_ONES) & ~b)) & H2_HIGHS;
	if (m == 0)
		return (8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__builtin_ctzll(m) / 8);
#else
	{
		size_t	n = 0;

		while (!(m & (0x80ULL << (8 * n))))
			n++;
		return (n);
	}
#endif
}

/* Is s UTF-8 without NUL, as a C string and a JSON string must be? */
static int
h2_utf8(const unsigned char *s, size_t len)
{
	size_t	i = 0, n;

	while (i < len) {
		if (len - i >= 8 && (n = h2_plain8(s + i, H2_ONES, 0, 0)) > 0) {
			i += n;
			continue;
		}
		if (s[i] - 1U < 0x7f) {
			i++;
			continue;
		}
		if ((n = h2_utf8_char(s + i, len - i)) == 0)
			return (0);
		i += n;
	}
	return (1);
}

/*
 * An event's job goes as the JSON text it was sent as, and is sent again
 * inside a line: it must be one JSON object (RFC 8259) with no line break,
 * its strings UTF-8 with no NUL, escaped or not, and no lone surrogate, as
 * jansson reads them. Checked by hand, in one pass without building it:
 * a parse per kept event (10,000 by default) was format 1's largest check.
 * Keys are not checked for repeats, nor numbers for size.
 */
#define H2J_PLAIN	0x01	/* stands for itself in a string */
#define H2J_DIGIT	0x02
#define H2J_SPACE	0x04	/* between tokens (a line break is not) */

static const unsigned char h2_json_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	5, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,	/* " */
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,	/* \ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* 0x80 and up: UTF-8, taken apart by h2_utf8_char */
};

static const unsigned char *
h2_json_skip(const unsigned char *p, const unsigned char *end)
{
	while (p < end && (h2_json_class[*p] & H2J_SPACE))
		p++;
	return (p);
}

static const unsigned char *
h2_json_hex4(const unsigned char *p, const unsigned char *end,
    unsigned int *u)
{
	unsigned int	c;
	int		i;

	if (end - p < 4)
		return (NULL);
	*u = 0;
	for (i = 0; i < 4; i++) {
		c = *p++;
		if (c >= '0' && c <= '9')
			c -= '0';
		else if (c >= 'a' && c <= 'f')
			c -= 'a' - 10;
		else if (c >= 'A' && c <= 'F')
			c -= 'A' - 10;
		else
			return (NULL);
		*u = *u << 4 | c;
	}
	return (p);
}

/* After a backslash in a string: past the escape, or NULL. */
static const unsigned char *
h2_json_escape(const unsigned char *p, const unsigned char *end)
{
	unsigned int	u, low;

	if (p == end)
		return (NULL);
	switch (*p++) {
	case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
	case 't':
		return (p);
	case 'u':
		break;
	default:
		return (NULL);
	}
	if ((p = h2_json_hex4(p, end, &u)) == NULL || u == 0 ||
	    (u >= 0xdc00 && u <= 0xdfff))
		return (NULL);
	if (u < 0xd800 || u > 0xdbff)
		return (p);
	/* A high surrogate: its low one follows. */
	if (end - p < 2 || p[0] != '\\' || p[1] != 'u' ||
	    (p = h2_json_hex4(p + 2, end, &low)) == NULL || low < 0xdc00 ||
	    low > 0xdfff)
		return (NULL);
	return (p);
}

/* At a string's opening quote: past its closing one, or NULL. */
static const unsigned char *
h2_json_string(const unsigned char *p, const unsigned char *end)
{
	size_t	n;

	for (p++;;) {
		while (end - p >= 8 && (n = h2_plain8(p, 0x20 * H2_ONES,
		    '"' * H2_ONES, '\\' * H2_ONES)) > 0) {
			p += n;
			if (n < 8)
				break;
		}
		while (p < end && (h2_json_class[*p] & H2J_PLAIN))
			p++;
		if (p == end)
			return (NULL);
		if (*p == '"')
			return (p + 1);
		if (*p == '\\')
			p = h2_json_escape(p + 1, end);
		else if (*p < 0x80 || (n = h2_utf8_char(p, end - p)) == 0)
			return (NULL);		/* a control character */
		else
			p += n;
		if (p == NULL)
			return (NULL);
	}
}

static const unsigned char *
h2_json_digits(const unsigned char *p, const unsigned char *end)
{
	if (p == end || !(h2_json_class[*p] & H2J_DIGIT))
		return (NULL);
	while (p < end && (h2_json_class[*p] & H2J_DIGIT))
		p++;
	return (p);
}

static const unsigned char *
h2_json_number(const unsigned char *p, const unsigned char *end)
{
	if (p < end && *p == '-')
		p++;
	if (p < end && *p == '0')
		p++;
	else if ((p = h2_json_digits(p, end)) == NULL)
		return (NULL);
	if (p < end && *p == '.' && (p = h2_json_digits(p + 1, end)) == NULL)
		return (NULL);
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			p++;
		p = h2_json_digits(p, end);
	}
	return (p);
}

static const unsigned char *
h2_json_word(const unsigned char *p, const unsigned char *end,
    const char *word)
{
	size_t	n = strlen(word);

	if ((size_t)(end - p) < n || memcmp(p, word, n) != 0)
		return (NULL);
	return (p + n);
}

/* A scalar value: past it, or NULL. */
static const unsigned char *
h2_json_scalar(const unsigned char *p, const unsigned char *end)
{
	switch (*p) {
	case '"':
		return (h2_json_string(p, end));
	case 't':
		return (h2_json_word(p, end, "true"));
	case 'f':
		return (h2_json_word(p, end, "false"));
	case 'n':
		return (h2_json_word(p, end, "null"));
	default:
		return (h2_json_number(p, end));
	}
}

/*
 * One pass, no recursion: what comes next (a key, a value, or what
 * follows a value), and a bit per open bracket, set for a brace.
 */
static int
h2_json_object(const char *text, size_t len)
{
	const unsigned char	*p = (const unsigned char *)text;
	const unsigned char	*end = p + len;
	enum { KEY, VALUE, AFTER } next = VALUE;
	uint64_t		 braces = 0;
	int			 depth = 0;

	p = h2_json_skip(p, end);
	if (p == end || *p != '{')
		return (0);
	for (;;) {
		p = h2_json_skip(p, end);
		if (next == AFTER && depth == 0)
			return (p == end);
		if (p == end)
			return (0);
		switch (next) {
		case KEY:
			if (*p != '"' || (p = h2_json_string(p, end)) == NULL)
				return (0);
			p = h2_json_skip(p, end);
			if (p == end || *p++ != ':')
				return (0);
			next = VALUE;
			break;
		case VALUE:
			if (*p != '{' && *p != '[') {
				if ((p = h2_json_scalar(p, end)) == NULL)
					return (0);
				next = AFTER;
				break;
			}
			if (depth++ == H2_JSON_DEPTH)
				return (0);
			braces = braces << 1 | (*p++ == '{');
			p = h2_json_skip(p, end);
			if (p < end && *p == ((braces & 1) ? '}' : ']')) {
				p++;
				braces >>= 1;
				depth--;
				next = AFTER;
			} else
				next = (braces & 1) ? KEY : VALUE;
			break;
		case AFTER:
			if (*p == ',')
				next = (braces & 1) ? KEY : VALUE;
			else if (*p == ((braces & 1) ? '}' : ']')) {
				braces >>= 1;
				depth--;
			} else
				return (0);
			p++;
			break;
		}
	}
}

/* ---- format 2: writing -------------------------------------------------- */

/*
 * The state is written straight into the memfd, mapped: no buffer to
 * grow by copying, and no copy of it into the memfd after. The mapping
 * grows by doubling (the file, then mremap, which moves no bytes).
 */
#define H2W_FIRST_SIZE	(1024 * 1024)

struct h2w {
	int		 fd;		/* the memfd, mapped at buf */
	unsigned char	*buf;
	size_t		 len;
	size_t		 size;
	int		*fds;		/* every fd the state names */
	size_t		 nfds;
	size_t		 fdsize;
	struct timespec	 now;		/* CLOCK_MONOTONIC, for ran */
	char		 why[256];	/* what could not be written */
};

static void
h2w_fail(struct h2w *w, const char *fmt, ...)
{
	va_list	ap;

	if (w->why[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->why, sizeof w->why, fmt, ap);
	va_end(ap);
}

static unsigned char	*h2w_grow(struct h2w *, size_t);

/* Room for n more bytes at the end, or NULL (and why) if there is none. */
static inline unsigned char *
h2w_room(struct h2w *w, size_t n)
{
	if (w->size - w->len >= n)
		return (w->buf + w->len);
	return (h2w_grow(w, n));
}

static unsigned char *
h2w_grow(struct h2w *w, size_t n)
{
	size_t	 size = w->size;
	void	*p;

	if (w->why[0] != '\0')
		return (NULL);
	while (size - w->len < n && size <= HANDOFF_MAX_SIZE)
		size *= 2;
	if (size - w->len < n) {
		h2w_fail(w, "more than %lld bytes", HANDOFF_MAX_SIZE);
		return (NULL);
	}
	if (ftruncate(w->fd, size) == -1 || (p = mremap(w->buf, w->size, size,
	    MREMAP_MAYMOVE)) == MAP_FAILED) {
		h2w_fail(w, "%zu bytes: %s", size, strerror(errno));
		return (NULL);
	}
	w->buf = p;
	w->size = size;
	return (w->buf + w->len);
}

static void
h2w_int(struct h2w *w, long long v)
{
	unsigned char		*p = h2w_room(w, 10);
	unsigned long long	 u;
	size_t			 n = 0;

	if (p == NULL)
		return;
	u = v < 0 ? ~((unsigned long long)v << 1) : (unsigned long long)v << 1;
	while (u >= 0x80) {
		p[n++] = (u & 0x7f) | 0x80;
		u >>= 7;
	}
	p[n++] = u;
	w->len += n;
}

static void
h2w_bool(struct h2w *w, int v)
{
	h2w_int(w, v != 0);
}

static void
h2w_double(struct h2w *w, double d)
{
	unsigned char	*p = h2w_room(w, 8);
	uint64_t	 u;
	int		 i;

	if (p == NULL)
		return;
	memcpy(&u, &d, sizeof u);
	for (i = 0; i < 8; i++)
		p[i] = u >> (8 * i);
	w->len += 8;
}

static void
h2w_bytes(struct h2w *w, const void *data, size_t len)
{
	unsigned char	*p;

	h2w_int(w, len);
	if (len == 0 || (p = h2w_room(w, len)) == NULL)
		return;
	memcpy(p, data, len);
	w->len += len;
}

/* s, len bytes, and a NUL; null (nullable only) if s is NULL. */
static void
h2w_stringn(struct h2w *w, const char *s, size_t len, int nullable)
{
	unsigned char	*p;

	if (s == NULL) {
		h2w_int(w, 0);
		return;
	}
	h2w_int(w, nullable ? len + 1 : len);
	if ((p = h2w_room(w, len + 1)) == NULL)
		return;
	memcpy(p, s, len);
	p[len] = '\0';
	w->len += len + 1;
}

static void
h2w_string(struct h2w *w, const char *s)
{
	h2w_stringn(w, s, strlen(s), 0);
}

static void
h2w_nstring(struct h2w *w, const char *s)
{
	h2w_stringn(w, s, s != NULL ? strlen(s) : 0, 1);
}

static void
h2w_time(struct h2w *w, const struct timespec *ts)
{
	h2w_int(w, ts->tv_sec);
	h2w_int(w, ts->tv_nsec);
}

static void
h2w_fd(struct h2w *w, int fd)
{
	if (fd != -1) {
		if (w->nfds == w->fdsize) {
			w->fdsize = w->fdsize == 0 ? 256 : w->fdsize * 2;
			w->fds = xreallocarray(w->fds, w->fdsize,
			    sizeof *w->fds);
		}
		w->fds[w->nfds++] = fd;
	}
	h2w_int(w, fd);
}

/* A pending timer's time left in seconds. */
static void
h2w_left(struct h2w *w, struct event *ev)
{
	struct timeval	at, now;
	double		left;

	if (ev == NULL || !evtimer_pending(ev, &at)) {
		h2w_int(w, 0);
		return;
	}
	gettimeofday(&now, NULL);
	left = (at.tv_sec - now.tv_sec) + (at.tv_usec - now.tv_usec) / 1e6;
	h2w_int(w, 1);
	h2w_double(w, left > 0 ? left : 0);
}

/* A JSON string value (argv, env), as s. */
static void
h2w_json_string(struct h2w *w, const json_t *v, int nullable)
{
	if (json_is_string(v))
		h2w_stringn(w, json_string_value(v), json_string_length(v),
		    nullable);
	else {
		if (!nullable || !json_is_null(v))
			h2w_fail(w, "a string that is not one");
		h2w_stringn(w, NULL, 0, 1);
	}
}

/* A value kept as JSON text (error, status_text): its string, or null. */
static void
h2w_text(struct h2w *w, const char *json)
{
	json_t	*v;

	if (json == NULL) {
		h2w_nstring(w, NULL);
		return;
	}
	v = json_loads(json, JSON_DECODE_ANY, NULL);
	if (!json_is_string(v))
		h2w_fail(w, "cannot read back %s", json);
	h2w_json_string(w, v, 1);
	json_decref(v);
}

static void
h2w_count_record(int stream, const char *data, size_t len, void *arg)
{
	(*(size_t *)arg)++;
}

static void
h2w_record(int stream, const char *data, size_t len, void *arg)
{
	struct h2w	*w = arg;

	h2w_int(w, stream);
	h2w_bytes(w, data, len);
}

static void
h2w_env(struct h2w *w, json_t *env)
{
	const char	*key;
	json_t		*v;

	if (env == NULL || json_is_null(env)) {
		h2w_int(w, 0);
		return;
	}
	h2w_int(w, json_object_size(env) + 1);
	json_object_foreach(env, key, v) {
		h2w_string(w, key);
		h2w_json_string(w, v, 1);
	}
}

static void
h2w_job_supervision(struct h2w *w, struct job *job)
{
	size_t	i;

	h2w_bool(w, job->creds.change);
	h2w_int(w, job->creds.ngroups);
	for (i = 0; i < job->creds.ngroups; i++)
		h2w_int(w, job->creds.groups[i]);

	h2w_string(w, jobstate_policy_name(job->restart_policy));
	h2w_double(w, job->restart_delay);
	h2w_double(w, job->restart_max_delay);
	h2w_double(w, job->restart_last_delay);
	h2w_int(w, job->restart_limit);
	h2w_int(w, job->restarts);
	h2w_time(w, &job->restart_at);
	h2w_left(w, job->restart_timer);
	h2w_bool(w, job->restart_due);

	h2w_bool(w, job->notify);
	h2w_bool(w, job->ready);
	h2w_text(w, job->status_text);
	h2w_left(w, job->ready_timer);

	h2w_bool(w, job->tree);
	if (job->tree) {
		h2w_fd(w, job->cg_fd);
		h2w_fd(w, job->cg_events);
		h2w_fd(w, job->cg_kill);
		h2w_bool(w, job->cg_waiting);
		h2w_bool(w, job->cg_killed);
		h2w_int(w, job->cg_user_base);
		h2w_int(w, job->cg_system_base);
	}
}

static void
h2w_job_output(struct h2w *w, struct job *job)
{
	size_t	n = 0;

	h2w_int(w, job->out_mode);
	h2w_fd(w, job->out_fd[0]);
	h2w_fd(w, job->out_fd[1]);
	h2w_left(w, job->out_grace);
	h2w_int(w, job->log.limit);
	h2w_bool(w, job->log.truncated);
	logbuf_each(&job->log, h2w_count_record, &n);
	h2w_int(w, n);
	logbuf_each(&job->log, h2w_record, w);
}

static void
h2w_job(struct h2w *w, struct job *job)
{
	const struct rusage	*ru = &job->usage;
	struct timespec		 ran;
	size_t			 i;

	h2w_int(w, job->id);
	h2w_string(w, job->name);
	h2w_int(w, json_array_size(job->argv));
	for (i = 0; i < json_array_size(job->argv); i++)
		h2w_json_string(w, json_array_get(job->argv, i), 0);
	h2w_string(w, job->cwd);
	h2w_int(w, job->pid);
	h2w_int(w, job->uid);
	h2w_int(w, job->gid);
	h2w_bool(w, job->daemon);
	h2w_double(w, job->stop_timeout);
	h2w_string(w, proto_state_name(job->state));
	h2w_int(w, job->exitcode);
	h2w_int(w, job->flags);
	h2w_time(w, &job->started_at);
	ran.tv_sec = w->now.tv_sec - job->started_mono.tv_sec;
	ran.tv_nsec = w->now.tv_nsec - job->started_mono.tv_nsec;
	h2w_double(w, ran.tv_sec + ran.tv_nsec / 1e9);
	h2w_time(w, &job->exited_at);
	h2w_int(w, ru->ru_utime.tv_sec * 1000000LL + ru->ru_utime.tv_usec);
	h2w_int(w, ru->ru_stime.tv_sec * 1000000LL + ru->ru_stime.tv_usec);
	h2w_int(w, ru->ru_maxrss);
	h2w_left(w, job->kill_timer);
	h2w_text(w, job->error_text);
	h2w_env(w, job->env);
	h2w_job_supervision(w, job);
	h2w_int(w, job->parent_id);
	h2w_job_output(w, job);
}

static void
h2w_request_id(struct h2w *w, const json_t *id)
{
	if (id == NULL)
		h2w_int(w, H2_ID_NONE);
	else if (json_is_null(id))
		h2w_int(w, H2_ID_NULL);
	else if (json_is_integer(id)) {
		h2w_int(w, H2_ID_INT);
		h2w_int(w, json_integer_value(id));
	} else if (json_is_real(id)) {
		h2w_int(w, H2_ID_REAL);
		h2w_double(w, json_real_value(id));
	} else {
		h2w_int(w, H2_ID_STRING);
		h2w_json_string(w, id, 0);
	}
}

static enum handoff_kind
h2w_kind(const struct request *req)
{
	if (req->method == &method_reexec_entry)
		return (KIND_REEXEC);
	if (req->method == &method_logs_entry)
		return (KIND_FOLLOW);
	if (req->method == &method_start_entry)
		return (KIND_READY);
	return (KIND_JOIN);
}

/* A client's batches, numbered: the running one first, then by request. */
struct h2w_batches {
	struct batch	**list;
	size_t		  n;
};

static int
h2w_batch_number(struct h2w_batches *bs, struct batch *b)
{
	size_t	i;

	if (b == NULL)
		return (-1);
	for (i = 0; i < bs->n; i++) {
		if (bs->list[i] == b)
			return (i);
	}
	bs->list = xreallocarray(bs->list, bs->n + 1, sizeof *bs->list);
	bs->list[bs->n] = b;
	return (bs->n++);
}

static void
h2w_request(struct h2w *w, struct request *req, int batch)
{
	enum handoff_kind	kind = h2w_kind(req);
	int			i;

	h2w_string(w, handoff_kinds[kind]);
	h2w_request_id(w, req->id);
	h2w_int(w, req->job != NULL ? req->job->id : 0);
	h2w_left(w, req->timer);
	h2w_int(w, batch);
	if (kind != KIND_FOLLOW)
		return;
	h2w_int(w, req->follow_streams);
	h2w_bool(w, req->follow_base64);
	h2w_bool(w, req->follow_truncated);
	for (i = 0; i < 2; i++)
		h2w_bytes(w, req->follow_utf8[i].seq, req->follow_utf8[i].have);
}

/*
 * The requests a running batch has not run yet, as they were sent (as
 * decoded: a method and its params, or the error it is answered with),
 * as JSON text; null for any other batch.
 */
static void
h2w_batch_rest(struct h2w *w, struct client *c, struct batch *b)
{
	const struct proto_request	*pr;
	json_t				*rest, *e;
	char				*text;
	size_t				 i;

	if (b != c->batch || b->next >= b->msg.nrequests) {
		h2w_nstring(w, NULL);
		return;
	}
	rest = json_array();
	for (i = b->next; i < b->msg.nrequests; i++) {
		pr = &b->msg.requests[i];
		e = json_object();
		if (pr->error != 0) {
			json_object_set_new(e, "error",
			    json_integer(pr->error));
			json_object_set_new(e, "message",
			    json_string(pr->message));
		} else {
			json_object_set_new(e, "method",
			    json_string(pr->method));
			if (pr->params != NULL)
				json_object_set(e, "params", pr->params);
		}
		if (pr->id != NULL)
			json_object_set(e, "id", pr->id);
		json_array_append_new(rest, e);
	}
	if ((text = json_dumps(rest, JSON_COMPACT)) == NULL)
		h2w_fail(w, "client %u: cannot write its batch", c->id);
	h2w_nstring(w, text);
	free(text);
	json_decref(rest);
}

static void
h2w_buffer(struct h2w *w, struct evbuffer *b)
{
	size_t	len = evbuffer_get_length(b);

	h2w_bytes(w, len > 0 ? evbuffer_pullup(b, -1) : NULL, len);
}

static void
h2w_count_subscription(long long id, const long long *ids, size_t n,
    long long next, void *arg)
{
	(*(size_t *)arg)++;
}

static void
h2w_subscription(long long id, const long long *ids, size_t n,
    long long next, void *arg)
{
	struct h2w	*w = arg;
	size_t		 i;

	h2w_int(w, id);
	if (ids == NULL)
		h2w_int(w, 0);
	else {
		h2w_int(w, n + 1);
		for (i = 0; i < n; i++)
			h2w_int(w, ids[i]);
	}
	h2w_int(w, next);
}

static void
h2w_client(struct h2w *w, struct client *c)
{
	struct h2w_batches	 bs = { NULL, 0 };
	struct request		*req;
	size_t			 i, n = 0;

	h2w_fd(w, bufferevent_getfd(c->bev));
	h2w_int(w, c->id);
	h2w_int(w, c->flags & HANDOFF_CLIENT_FLAGS);
	h2w_int(w, c->discarded);
	h2w_buffer(w, bufferevent_get_input(c->bev));
	h2w_buffer(w, bufferevent_get_output(c->bev));

	h2w_batch_number(&bs, c->batch);
	TAILQ_FOREACH(req, &c->requests, client_entry) {
		h2w_batch_number(&bs, req->batch);
		n++;
	}
	h2w_int(w, bs.n);
	for (i = 0; i < bs.n; i++) {
		h2w_buffer(w, bs.list[i]->out);
		h2w_batch_rest(w, c, bs.list[i]);
	}
	h2w_int(w, n);
	TAILQ_FOREACH(req, &c->requests, client_entry)
		h2w_request(w, req, h2w_batch_number(&bs, req->batch));
	free(bs.list);

	n = 0;
	feed_handoff_subscriptions(c, h2w_count_subscription, &n);
	h2w_int(w, n);
	feed_handoff_subscriptions(c, h2w_subscription, w);
}

static void
h2w_count_event(long long seq, const char *type, long long job_id,
    uid_t owner, const char *job, void *arg)
{
	(*(size_t *)arg)++;
}

static void
h2w_event(long long seq, const char *type, long long job_id, uid_t owner,
    const char *job, void *arg)
{
	struct h2w	*w = arg;

	h2w_int(w, seq);
	h2w_string(w, type);
	h2w_int(w, job_id);
	h2w_int(w, owner);
	h2w_string(w, job);
}

static void
h2w_head(struct h2w *w)
{
	struct listen_handoff	lh;
	struct cgroup_handoff	ch;
	long long		seq, next_sub;
	int			i;

	memcpy(w->buf, H2_MAGIC, H2_MAGIC_LEN);
	w->len = H2_MAGIC_LEN;
	h2w_string(w, PROCD_VERSION);
	h2w_int(w, procd_pid);
	h2w_time(w, &procd_started);
	h2w_time(w, &procd_image_started);
	h2w_int(w, procd_reexecs);
	h2w_nstring(w, reexec_program());
	h2w_int(w, procd_nofile.rlim_cur);
	h2w_int(w, procd_nofile.rlim_max);

	listen_handoff_get(&lh);
	h2w_nstring(w, lh.path);
	h2w_bool(w, lh.owned);
	h2w_fd(w, lh.dirfd);
	h2w_nstring(w, lh.name);
	h2w_int(w, lh.dev);
	h2w_int(w, lh.ino);
	h2w_int(w, lh.nfds);
	for (i = 0; i < lh.nfds; i++)
		h2w_fd(w, lh.fds[i]);
	h2w_fd(w, ready_socket_fd());

	cgroup_handoff_get(&ch);
	h2w_bool(w, ch.ok);
	h2w_nstring(w, ch.why);
	h2w_nstring(w, ch.root);
	h2w_nstring(w, ch.rel);
	h2w_fd(w, ch.fd);
	h2w_bool(w, ch.have_kill);

	feed_handoff_get(&seq, &next_sub);
	h2w_int(w, job_last_id() + 1);
	h2w_int(w, client_next_id_get());
	h2w_int(w, next_sub);
	h2w_int(w, seq);
}

/* The whole state, into w; w->why says what could not be written. */
static void
h2w_state(struct h2w *w)
{
	struct job	*job;
	struct client	*c;
	size_t		 n = 0, i;

	clock_gettime(CLOCK_MONOTONIC, &w->now);
	h2w_head(w);
	feed_handoff_each(h2w_count_event, &n);
	h2w_int(w, n);
	feed_handoff_each(h2w_event, w);
	n = 0;
	TAILQ_FOREACH(job, &jobs, entry)
		n++;
	h2w_int(w, n);
	TAILQ_FOREACH(job, &jobs, entry)
		h2w_job(w, job);
	n = 0;
	TAILQ_FOREACH(c, &clients, entry)
		n++;
	h2w_int(w, n);
	TAILQ_FOREACH(c, &clients, entry)
		h2w_client(w, c);
	h2w_int(w, w->nfds);
	for (i = 0; i < w->nfds; i++)
		h2w_int(w, w->fds[i]);
}

/* ---- format 2: reading and checking ------------------------------------- */

/* Where a list of values starts in the state, and how many there are. */
struct h2_list {
	const unsigned char	*at;
	size_t			 n;
};

/* A job as the state has it; strings point into the state. */
struct h2_job {
	long long		 id;
	const char		*name;
	struct h2_list		 argv;
	const char		*cwd;
	long long		 pid;
	long long		 uid;
	long long		 gid;
	int			 daemon;
	double			 stop_timeout;
	int			 state;
	long long		 exitcode;
	long long		 flags;
	struct timespec		 started_at;
	double			 ran;
	struct timespec		 exited_at;
	long long		 usage[3];	/* user us, system us, maxrss */
	double			 kill_left;	/* -1: none */
	const char		*error;
	int			 has_env;
	struct h2_list		 env;
	int			 change;
	struct h2_list		 groups;
	int			 policy;
	double			 delay;
	double			 max_delay;
	double			 last_delay;
	long long		 limit;
	long long		 count;
	struct timespec		 restart_at;
	double			 restart_left;
	int			 due;
	int			 notify;
	int			 ready;
	const char		*status;
	double			 ready_left;
	int			 tree;
	int			 cg_fd;
	int			 cg_events;
	int			 cg_kill;
	int			 cg_waiting;
	int			 cg_killed;
	long long		 cg_base[2];
	long long		 parent;
	long long		 out_mode;
	int			 out_fd[2];
	double			 grace_left;
	long long		 log_limit;
	int			 truncated;
	struct h2_list		 records;

	int			 waited;	/* an unfinished child has it */
	UT_hash_handle		 hh_name;	/* chosen names only */
};

struct h2_client {
	int			 fd;
	long long		 id;
	long long		 flags;
	long long		 discarded;
	const unsigned char	*in;
	size_t			 inlen;
	const unsigned char	*out;
	size_t			 outlen;
	struct h2_list		 batches;
	struct h2_list		 requests;
	struct h2_list		 subscriptions;
};

struct h2_event {
	long long		 seq;
	const char		*type;
	long long		 job;
	long long		 owner;
	const char		*text;
	size_t			 textlen;
};

struct h2_batch {
	const unsigned char	*out;
	size_t			 outlen;
	const char		*rest;		/* JSON text, or NULL */
	size_t			 restlen;
};

struct h2_request {
	int			 kind;
	long long		 idtype;	/* enum h2_id */
	long long		 idint;
	double			 idreal;
	const char		*idstring;
	size_t			 idlen;
	long long		 job;
	double			 left;
	long long		 batch;
	long long		 streams;
	int			 base64;
	int			 truncated;
	const unsigned char	*utf8[2];
	size_t			 utf8len[2];
};

struct h2_subscription {
	long long		 id;
	int			 all;
	struct h2_list		 jobs;
	long long		 next;
};

/* The whole state as read; the check's own tables at the end. */
struct h2_state {
	const unsigned char	*start;
	const unsigned char	*end;
	const char		*version;
	long long		 pid;
	struct timespec		 started_at;
	struct timespec		 image_started_at;
	long long		 reexecs;
	const char		*program;
	long long		 nofile[2];
	struct listen_handoff	 listen;
	int			 notify_fd;
	struct cgroup_handoff	 cgroup;
	long long		 next_job;
	long long		 next_client;
	long long		 next_subscription;
	long long		 seq;
	struct h2_list		 events;
	struct h2_job		*jobs;
	size_t			 njobs;
	struct h2_client	*clients;
	size_t			 nclients;
	struct h2_list		 fds;
	struct user		*owner;		/* the takeover's last */

	unsigned char		*named;		/* a bit per fd named */
	size_t			 nnamed;
	struct h2_job		*by_name;
	long long		*sub_ids;
	size_t			 nsub_ids;
};

/*
 * A cursor on the state. Once the state is checked, the takeover walks
 * parts of it again, trusted: lengths and ranges are checked again (it
 * costs nothing), the text in strings is not.
 */
struct h2r {
	const unsigned char	*start;
	const unsigned char	*p;
	const unsigned char	*end;
	int			 trusted;
	struct handoff_check	*hc;
	struct h2_state		*st;
	const char		*in;		/* "job", "client": for why */
	long long		 in_id;
};

static int
h2r_fail(struct h2r *r, const char *what, const char *fmt, ...)
{
	char	problem[192], where[64] = "";
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(problem, sizeof problem, fmt, ap);
	va_end(ap);
	if (r->in != NULL)
		snprintf(where, sizeof where, "%s %lld: ", r->in, r->in_id);
	return (hc_fail(r->hc, "%s%s: %s (byte %zu)", where, what, problem,
	    (size_t)(r->p - r->start)));
}

static size_t
h2r_left_bytes(const struct h2r *r)
{
	return (r->end - r->p);
}

static int	h2r_int_long(struct h2r *, const char *, long long, long long,
		    long long *);

/* An integer in [min, max]: most are a byte long. */
static inline int
h2r_int(struct h2r *r, const char *what, long long min, long long max,
    long long *v)
{
	long long	x;

	if (r->p < r->end && *r->p < 0x80) {
		x = (*r->p & 1) ? -(long long)(*r->p >> 1) - 1 : *r->p >> 1;
		if (x >= min && x <= max) {
			r->p++;
			*v = x;
			return (0);
		}
	}
	return (h2r_int_long(r, what, min, max, v));
}

static int
h2r_int_long(struct h2r *r, const char *what, long long min, long long max,
    long long *v)
{
	const unsigned char	*at = r->p;
	unsigned long long	 u = 0;
	unsigned int		 shift = 0;
	unsigned char		 b;
	long long		 x;

	do {
		if (r->p == r->end)
			return (h2r_fail(r, what, "the state ends"));
		b = *r->p++;
		if (shift == 63 && b > 1) {
			r->p = at;
			return (h2r_fail(r, what, "an integer too large"));
		}
		u |= (unsigned long long)(b & 0x7f) << shift;
		shift += 7;
	} while (b & 0x80);
	if (b == 0 && r->p - at > 1) {
		r->p = at;
		return (h2r_fail(r, what, "an integer not in its shortest "
		    "form"));
	}
	x = (u & 1) ? -(long long)(u >> 1) - 1 : (long long)(u >> 1);
	if (x < min || x > max) {
		r->p = at;
		return (h2r_fail(r, what, "%lld not in [%lld, %lld]", x, min,
		    max));
	}
	*v = x;
	return (0);
}

static int
h2r_bool(struct h2r *r, const char *what, int *v)
{
	long long	x;

	if (h2r_int(r, what, 0, 1, &x) == -1)
		return (-1);
	*v = x;
	return (0);
}

/* A count of values to come, each at least a byte. */
static int
h2r_count(struct h2r *r, const char *what, long long max, size_t *n)
{
	long long	x;

	if (h2r_int(r, what, 0, max, &x) == -1)
		return (-1);
	if ((size_t)x > h2r_left_bytes(r))
		return (h2r_fail(r, what, "%lld past the end", x));
	*n = x;
	return (0);
}

/* A count, or none (null): i 0, or the count + 1. */
static int
h2r_maybe_count(struct h2r *r, const char *what, long long max, int *some,
    size_t *n)
{
	long long	x;

	if (h2r_int(r, what, 0, max + 1, &x) == -1)
		return (-1);
	*some = x != 0;
	*n = x != 0 ? x - 1 : 0;
	if (*n > h2r_left_bytes(r))
		return (h2r_fail(r, what, "%zu past the end", *n));
	return (0);
}

static int
h2r_double(struct h2r *r, const char *what, double min, double max,
    double *v)
{
	uint64_t	u = 0;
	double		d;
	int		i;

	if (h2r_left_bytes(r) < 8)
		return (h2r_fail(r, what, "the state ends"));
	for (i = 0; i < 8; i++)
		u |= (uint64_t)r->p[i] << (8 * i);
	memcpy(&d, &u, sizeof d);
	if (!(d >= min && d <= max))
		return (h2r_fail(r, what, "not a number in [%g, %g]", min,
		    max));
	r->p += 8;
	*v = d;
	return (0);
}

/* A timer's seconds left, or -1 for none. */
static int
h2r_left(struct h2r *r, const char *what, double *v)
{
	int	some;

	if (h2r_bool(r, what, &some) == -1)
		return (-1);
	if (!some) {
		*v = -1;
		return (0);
	}
	return (h2r_double(r, what, 0, HANDOFF_MAX_SECONDS, v));
}

static int
h2r_time(struct h2r *r, const char *what, struct timespec *ts)
{
	long long	sec, nsec;

	if (h2r_int(r, what, 0, H2_TIME_MAX, &sec) == -1 ||
	    h2r_int(r, what, 0, 999999999, &nsec) == -1)
		return (-1);
	ts->tv_sec = sec;
	ts->tv_nsec = nsec;
	return (0);
}

/*
 * A string (NULL for null if nullable), a C string in the state; its
 * text is checked by text (NULL: the caller checks it).
 */
static int
h2r_text(struct h2r *r, const char *what, int nullable,
    int (*text)(const unsigned char *, size_t), const char **s,
    size_t *lenp)
{
	const unsigned char	*at = r->p;
	long long		 len;

	if (h2r_int(r, what, 0, HANDOFF_MAX_SIZE, &len) == -1)
		return (-1);
	if (nullable && len-- == 0) {
		*s = NULL;
		if (lenp != NULL)
			*lenp = 0;
		return (0);
	}
	if ((size_t)len >= h2r_left_bytes(r)) {
		r->p = at;
		return (h2r_fail(r, what, "a string past the end"));
	}
	if (r->p[len] != '\0' || (!r->trusted && text != NULL &&
	    !text(r->p, len))) {
		r->p = at;
		return (h2r_fail(r, what, "not UTF-8 text ending in a NUL"));
	}
	*s = (const char *)r->p;
	if (lenp != NULL)
		*lenp = len;
	r->p += len + 1;
	return (0);
}

static int
h2r_string(struct h2r *r, const char *what, int nullable, const char **s,
    size_t *lenp)
{
	return (h2r_text(r, what, nullable, h2_utf8, s, lenp));
}

static int
h2r_bytes(struct h2r *r, const char *what, long long max,
    const unsigned char **data, size_t *len)
{
	long long	n;

	if (h2r_int(r, what, 0, max, &n) == -1)
		return (-1);
	if ((size_t)n > h2r_left_bytes(r))
		return (h2r_fail(r, what, "%lld bytes past the end", n));
	*data = r->p;
	*len = n;
	r->p += n;
	return (0);
}

/*
 * An fd the state names: at most once, and (live) open and of the kind
 * wanted (an S_IFMT type, or 0 for any). The list at the end must name
 * the same ones.
 */
static int
h2r_fd(struct h2r *r, const char *what, int optional, mode_t kind, int *fdp)
{
	struct h2_state	*st = r->st;
	struct stat	 sb;
	long long	 fd;

	if (h2r_int(r, what, -1, HANDOFF_MAX_FDS - 1, &fd) == -1)
		return (-1);
	if (fd == -1 && optional) {
		*fdp = -1;
		return (0);
	}
	if (fd < 3)
		return (h2r_fail(r, what, "fd %lld out of range", fd));
	if (st->named[fd / 8] & (1 << (fd % 8)))
		return (h2r_fail(r, what, "fd %lld named twice", fd));
	st->named[fd / 8] |= 1 << (fd % 8);
	st->nnamed++;
	if (r->hc->live) {
		if (fstat(fd, &sb) == -1)
			return (h2r_fail(r, what, "fd %lld: %s", fd,
			    strerror(errno)));
		if (kind != 0 && (sb.st_mode & S_IFMT) != kind)
			return (h2r_fail(r, what, "fd %lld is not of the right "
			    "kind", fd));
	}
	*fdp = fd;
	return (0);
}

/* Skips n strings (argv), checking them. */
static int
h2r_strings(struct h2r *r, const char *what, size_t n)
{
	const char	*s;
	size_t		 i;

	for (i = 0; i < n; i++) {
		if (h2r_string(r, what, 0, &s, NULL) == -1)
			return (-1);
	}
	return (0);
}

static int
h2r_env_entry(struct h2r *r, const char **key, const char **value,
    size_t *valuelen)
{
	if (h2r_string(r, "env key", 0, key, NULL) == -1 ||
	    h2r_string(r, "env value", 1, value, valuelen) == -1)
		return (-1);
	/* A null value: the client unset the variable. */
	if (**key == '\0' || strchr(*key, '=') != NULL)
		return (h2r_fail(r, "env key", "empty or with a ="));
	return (0);
}

static int
h2r_group(struct h2r *r, long long *gid)
{
	return (h2r_int(r, "creds.groups", 0, HANDOFF_UINT_MAX - 1, gid));
}

static int
h2r_record(struct h2r *r, long long *stream, const unsigned char **data,
    size_t *len)
{
	if (h2r_int(r, "output record stream", 0, 1, stream) == -1 ||
	    h2r_bytes(r, "output record", PROTO_MAX_LOG_LIMIT, data, len) == -1)
		return (-1);
	return (0);
}

static int
h2r_event(struct h2r *r, struct h2_event *e)
{
	if (h2r_int(r, "event seq", 1, LLONG_MAX / 2, &e->seq) == -1 ||
	    h2r_string(r, "event type", 0, &e->type, NULL) == -1 ||
	    h2r_int(r, "event job", 1, LLONG_MAX / 2, &e->job) == -1 ||
	    h2r_int(r, "event owner", 0, HANDOFF_UINT_MAX - 1,
	    &e->owner) == -1 ||
	    h2r_text(r, "event job object", 0, NULL, &e->text,
	    &e->textlen) == -1)
		return (-1);
	if (feed_type_known(e->type) == NULL)
		return (h2r_fail(r, "event type", "no such type"));
	if (!r->trusted && !h2_json_object(e->text, e->textlen))
		return (h2r_fail(r, "event job object", "not a JSON object "
		    "on one line"));
	return (0);
}

static int
h2r_batch(struct h2r *r, struct h2_batch *b)
{
	if (h2r_bytes(r, "batch out", HANDOFF_MAX_SIZE, &b->out,
	    &b->outlen) == -1 ||
	    h2r_string(r, "batch rest", 1, &b->rest, &b->restlen) == -1)
		return (-1);
	return (0);
}

static int
h2r_request_id(struct h2r *r, struct h2_request *q)
{
	if (h2r_int(r, "request id", H2_ID_NONE, H2_ID_STRING,
	    &q->idtype) == -1)
		return (-1);
	switch (q->idtype) {
	case H2_ID_INT:
		return (h2r_int(r, "request id", LLONG_MIN, LLONG_MAX,
		    &q->idint));
	case H2_ID_REAL:
		return (h2r_double(r, "request id", -DBL_MAX, DBL_MAX,
		    &q->idreal));
	case H2_ID_STRING:
		return (h2r_string(r, "request id", 0, &q->idstring,
		    &q->idlen));
	}
	return (0);
}

/* A follow's pending bytes: a valid, incomplete start of a character. */
static int
h2r_utf8_pending(struct h2r *r, const unsigned char **seq, size_t *len)
{
	struct proto_utf8	u;
	char			out[32];

	if (h2r_bytes(r, "follow utf8", 3, seq, len) == -1)
		return (-1);
	memset(&u, 0, sizeof u);
	if (proto_utf8_decode(&u, *seq, *len, 0, out) != 0 ||
	    (size_t)u.have != *len)
		return (h2r_fail(r, "follow utf8", "not a character's start"));
	return (0);
}

static int
h2r_request(struct h2r *r, struct h2_request *q)
{
	const char	*kind;

	if (h2r_string(r, "request kind", 0, &kind, NULL) == -1)
		return (-1);
	if ((q->kind = hc_kind(kind)) == -1)
		return (h2r_fail(r, "request kind", "no such kind"));
	if (h2r_request_id(r, q) == -1 ||
	    h2r_int(r, "request job", 0, LLONG_MAX / 2, &q->job) == -1 ||
	    h2r_left(r, "request left", &q->left) == -1 ||
	    h2r_int(r, "request batch", -1, INT_MAX, &q->batch) == -1)
		return (-1);
	if (q->kind != KIND_FOLLOW)
		return (0);
	if (h2r_int(r, "follow streams", 1, 3, &q->streams) == -1 ||
	    h2r_bool(r, "follow base64", &q->base64) == -1 ||
	    h2r_bool(r, "follow truncated", &q->truncated) == -1 ||
	    h2r_utf8_pending(r, &q->utf8[0], &q->utf8len[0]) == -1 ||
	    h2r_utf8_pending(r, &q->utf8[1], &q->utf8len[1]) == -1)
		return (-1);
	return (0);
}

static int
h2r_subscription(struct h2r *r, struct h2_subscription *s)
{
	long long	id;
	size_t		i;

	int		some;

	if (h2r_int(r, "subscription id", 1, LLONG_MAX / 2, &s->id) == -1 ||
	    h2r_maybe_count(r, "subscription jobs", HANDOFF_MAX_SUB_JOBS,
	    &some, &s->jobs.n) == -1)
		return (-1);
	s->all = !some;
	s->jobs.at = r->p;
	for (i = 0; i < s->jobs.n; i++) {
		if (h2r_int(r, "subscription jobs", 1, LLONG_MAX / 2,
		    &id) == -1)
			return (-1);
	}
	return (h2r_int(r, "subscription next", 0, LLONG_MAX / 2, &s->next));
}

/* ---- format 2: the state's head ---- */

static int
h2r_nofile(struct h2r *r, struct h2_state *st)
{
	if (h2r_int(r, "nofile", 0, LLONG_MAX, &st->nofile[0]) == -1 ||
	    h2r_int(r, "nofile", 0, LLONG_MAX, &st->nofile[1]) == -1)
		return (-1);
	if (st->nofile[0] > st->nofile[1])
		return (h2r_fail(r, "nofile", "soft limit above the hard one"));
	return (0);
}

static int
h2r_listen(struct h2r *r, struct h2_state *st)
{
	struct listen_handoff	*lh = &st->listen;
	long long		 dev, ino;
	size_t			 n, i;

	if (h2r_string(r, "listen.path", 1, &lh->path, NULL) == -1 ||
	    h2r_bool(r, "listen.owned", &lh->owned) == -1 ||
	    h2r_fd(r, "listen.dirfd", 1, S_IFDIR, &lh->dirfd) == -1 ||
	    h2r_string(r, "listen.name", 1, &lh->name, NULL) == -1 ||
	    h2r_int(r, "listen.dev", 0, LLONG_MAX, &dev) == -1 ||
	    h2r_int(r, "listen.ino", 0, LLONG_MAX, &ino) == -1 ||
	    h2r_count(r, "listen.sockets", 16, &n) == -1)
		return (-1);
	if (lh->path == NULL)
		return (h2r_fail(r, "listen.path", "null"));
	if (n < 1)
		return (h2r_fail(r, "listen.sockets", "1 to 16 sockets"));
	lh->dev = dev;
	lh->ino = ino;
	lh->nfds = n;
	for (i = 0; i < n; i++) {
		if (h2r_fd(r, "listen.sockets", 0, S_IFSOCK,
		    &lh->fds[i]) == -1)
			return (-1);
	}
	return (0);
}

/*
 * The cgroup subtree's path names the folder its fd holds: procd removes
 * that path when it stops.
 */
static int
h2r_cgroup(struct h2r *r, struct h2_state *st)
{
	struct cgroup_handoff	*ch = &st->cgroup;
	struct stat		 a, b;

	if (h2r_bool(r, "cgroup.ok", &ch->ok) == -1 ||
	    h2r_string(r, "cgroup.why", 1, &ch->why, NULL) == -1 ||
	    h2r_string(r, "cgroup.root", 1, &ch->root, NULL) == -1 ||
	    h2r_string(r, "cgroup.rel", 1, &ch->rel, NULL) == -1 ||
	    h2r_fd(r, "cgroup.fd", 1, S_IFDIR, &ch->fd) == -1 ||
	    h2r_bool(r, "cgroup.kill", &ch->have_kill) == -1)
		return (-1);
	if (ch->fd != -1 && (ch->root == NULL || ch->rel == NULL))
		return (h2r_fail(r, "cgroup", "a subtree without a path"));
	if (ch->ok && ch->fd == -1)
		return (h2r_fail(r, "cgroup", "available without a subtree"));
	if (!r->hc->live || ch->fd == -1)
		return (0);
	if (lstat(ch->root, &a) == -1 || fstat(ch->fd, &b) == -1 ||
	    !S_ISDIR(a.st_mode) || a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return (h2r_fail(r, "cgroup", "%s is not the subtree procd "
		    "holds", ch->root));
	return (0);
}

static int
h2r_head(struct h2r *r, struct h2_state *st)
{
	if (h2r_string(r, "version", 0, &st->version, NULL) == -1 ||
	    h2r_int(r, "pid", 1, INT_MAX, &st->pid) == -1)
		return (-1);
#ifdef PROCD_TEST_HOOKS
	/* The test build only: a new image that refuses, to test going back. */
	if (r->hc->live && getenv("PROCD_TEST_REFUSE_HANDOFF") != NULL)
		return (hc_fail(r->hc, "refused for a test "
		    "(PROCD_TEST_REFUSE_HANDOFF is set)"));
#endif
	if (r->hc->live && st->pid != getpid())
		return (h2r_fail(r, "pid", "written by pid %lld, not this one",
		    st->pid));
	r->hc->pid = st->pid;
	if (h2r_time(r, "started_at", &st->started_at) == -1 ||
	    h2r_time(r, "image_started_at", &st->image_started_at) == -1 ||
	    h2r_int(r, "reexecs", 0, LLONG_MAX - 1, &st->reexecs) == -1 ||
	    h2r_string(r, "program", 1, &st->program, NULL) == -1)
		return (-1);
	if (st->program != NULL && st->program[0] != '/')
		return (h2r_fail(r, "program", "not an absolute path"));
	if (h2r_nofile(r, st) == -1 ||
	    h2r_listen(r, st) == -1 ||
	    h2r_fd(r, "notify_fd", 0, S_IFSOCK, &st->notify_fd) == -1 ||
	    h2r_cgroup(r, st) == -1 ||
	    h2r_int(r, "next_job", 1, LLONG_MAX / 2, &st->next_job) == -1 ||
	    h2r_int(r, "next_client", 1, HANDOFF_UINT_MAX,
	    &st->next_client) == -1 ||
	    h2r_int(r, "next_subscription", 1, LLONG_MAX / 2,
	    &st->next_subscription) == -1 ||
	    h2r_int(r, "seq", 0, LLONG_MAX / 2, &st->seq) == -1)
		return (-1);
	return (0);
}

/* The kept events: the last ones up to seq, oldest first. */
static int
h2r_events(struct h2r *r, struct h2_state *st)
{
	struct h2_event	e;
	size_t		i;

	if (h2r_count(r, "events", LLONG_MAX, &st->events.n) == -1)
		return (-1);
	if ((long long)st->events.n > st->seq)
		return (h2r_fail(r, "events", "more than seq"));
	st->events.at = r->p;
	for (i = 0; i < st->events.n; i++) {
		if (h2r_event(r, &e) == -1)
			return (-1);
		if (e.seq != st->seq - (long long)st->events.n + 1 +
		    (long long)i)
			return (h2r_fail(r, "event seq", "%lld out of order",
			    e.seq));
	}
	return (0);
}

/* ---- format 2: a job ---- */

static int
h2_key_compare(const void *a, const void *b)
{
	return (strcmp(*(const char *const *)a, *(const char *const *)b));
}

/* The variables a job was started with: each named once, as in JSON. */
static int
h2r_job_env(struct h2r *r, struct h2_job *j)
{
	const char	*key, *value, **keys;
	size_t		 i, len;
	int		 rc = 0;

	if (h2r_maybe_count(r, "env", LLONG_MAX - 1, &j->has_env,
	    &j->env.n) == -1)
		return (-1);
	j->env.at = r->p;
	keys = xreallocarray(NULL, j->env.n + 1, sizeof *keys);
	for (i = 0; i < j->env.n && rc == 0; i++) {
		rc = h2r_env_entry(r, &key, &value, &len);
		keys[i] = key;
	}
	if (rc == 0 && j->env.n > 1) {
		qsort(keys, j->env.n, sizeof *keys, h2_key_compare);
		for (i = 1; i < j->env.n && rc == 0; i++) {
			if (strcmp(keys[i], keys[i - 1]) == 0)
				rc = h2r_fail(r, "env", "%s twice", keys[i]);
		}
	}
	free(keys);
	return (rc);
}

static int
h2r_job_creds(struct h2r *r, struct h2_job *j)
{
	long long	gid;
	size_t		i;

	if (h2r_bool(r, "creds.change", &j->change) == -1 ||
	    h2r_count(r, "creds.groups", HANDOFF_MAX_GROUPS,
	    &j->groups.n) == -1)
		return (-1);
	j->groups.at = r->p;
	for (i = 0; i < j->groups.n; i++) {
		if (h2r_group(r, &gid) == -1)
			return (-1);
	}
	return (0);
}

static int
h2r_job_restart(struct h2r *r, struct h2_job *j)
{
	const char	*policy;

	if (h2r_string(r, "restart.policy", 0, &policy, NULL) == -1)
		return (-1);
	if ((j->policy = jobstate_policy_parse(policy)) == -1)
		return (h2r_fail(r, "restart.policy", "no such policy"));
	if (h2r_double(r, "restart.delay", 0, HANDOFF_MAX_SECONDS,
	    &j->delay) == -1 ||
	    h2r_double(r, "restart.max_delay", 0, HANDOFF_MAX_SECONDS,
	    &j->max_delay) == -1 ||
	    h2r_double(r, "restart.last_delay", -1, HANDOFF_MAX_SECONDS,
	    &j->last_delay) == -1 ||
	    h2r_int(r, "restart.limit", -1, LLONG_MAX / 2, &j->limit) == -1 ||
	    h2r_int(r, "restart.count", 0, LLONG_MAX / 2, &j->count) == -1 ||
	    h2r_time(r, "restart.at", &j->restart_at) == -1 ||
	    h2r_left(r, "restart.left", &j->restart_left) == -1 ||
	    h2r_bool(r, "restart.due", &j->due) == -1)
		return (-1);
	if ((j->state == PROTO_RESTARTING) != (j->restart_left >= 0 || j->due))
		return (h2r_fail(r, "restart", "schedule and state disagree"));
	return (0);
}

static int
h2r_job_ready(struct h2r *r, struct h2_job *j)
{
	if (h2r_bool(r, "ready.notify", &j->notify) == -1 ||
	    h2r_bool(r, "ready.ready", &j->ready) == -1 ||
	    h2r_string(r, "ready.status", 1, &j->status, NULL) == -1 ||
	    h2r_left(r, "ready.left", &j->ready_left) == -1)
		return (-1);
	/* A readiness deadline only while a notify job runs, not ready. */
	if (j->ready_left >= 0 && (!jobstate_alive(j->state) || !j->notify ||
	    j->ready))
		return (h2r_fail(r, "ready.left", "a deadline it cannot meet"));
	return (0);
}

/* A finished tree's cgroup is gone: its fds are -1. */
static int
h2r_job_tree(struct h2r *r, struct h2_job *j)
{
	int	gone;

	j->cg_fd = j->cg_events = j->cg_kill = -1;
	if (h2r_bool(r, "tree", &j->tree) == -1)
		return (-1);
	if (!j->tree)
		return (0);
	if (r->st->cgroup.fd == -1)
		return (h2r_fail(r, "tree", "a tree job without a cgroup "
		    "subtree"));
	if (h2r_fd(r, "tree.fd", j->state == PROTO_EXITED, S_IFDIR,
	    &j->cg_fd) == -1)
		return (-1);
	gone = j->cg_fd == -1;
	if (h2r_fd(r, "tree.events", gone, S_IFREG, &j->cg_events) == -1 ||
	    h2r_fd(r, "tree.kill", 1, S_IFREG, &j->cg_kill) == -1)
		return (-1);
	if (gone && (j->cg_events != -1 || j->cg_kill != -1))
		return (h2r_fail(r, "tree", "files of a folder gone"));
	if (h2r_bool(r, "tree.waiting", &j->cg_waiting) == -1 ||
	    h2r_bool(r, "tree.killed", &j->cg_killed) == -1 ||
	    h2r_int(r, "tree.base", 0, LLONG_MAX, &j->cg_base[0]) == -1 ||
	    h2r_int(r, "tree.base", 0, LLONG_MAX, &j->cg_base[1]) == -1)
		return (-1);
	return (0);
}

static int
h2r_job_output(struct h2r *r, struct h2_job *j)
{
	const unsigned char	*data;
	long long		 stream;
	size_t			 i, len;

	if (h2r_int(r, "output.mode", OUTPUT_CAPTURE, OUTPUT_NULL,
	    &j->out_mode) == -1 ||
	    h2r_fd(r, "output.fds", 1, S_IFIFO, &j->out_fd[0]) == -1 ||
	    h2r_fd(r, "output.fds", 1, S_IFIFO, &j->out_fd[1]) == -1)
		return (-1);
	if (j->out_mode != OUTPUT_CAPTURE &&
	    (j->out_fd[0] != -1 || j->out_fd[1] != -1))
		return (h2r_fail(r, "output.fds", "pipes without capture"));
	if (h2r_left(r, "output.grace_left", &j->grace_left) == -1 ||
	    h2r_int(r, "output.limit", 0, PROTO_MAX_LOG_LIMIT,
	    &j->log_limit) == -1 ||
	    h2r_bool(r, "output.truncated", &j->truncated) == -1 ||
	    h2r_count(r, "output.records", LLONG_MAX, &j->records.n) == -1)
		return (-1);
	j->records.at = r->p;
	for (i = 0; i < j->records.n; i++) {
		if (h2r_record(r, &stream, &data, &len) == -1)
			return (-1);
	}
	return (0);
}

/*
 * Whether the process is reaped agrees with the state: running has its
 * process, stopping too unless it is a tree waiting for its cgroup to
 * empty; waiting, restarting and exited have none. A stop deadline is
 * only for a stopping job.
 */
static int
h2r_job_process(struct h2r *r, const struct h2_job *j)
{
	int	reaped = (j->flags & JOB_REAPED) != 0, ok;

	switch (j->state) {
	case PROTO_RUNNING:
		ok = !reaped;
		break;
	case PROTO_STOPPING_STATE:
		ok = !reaped || (j->tree && j->cg_waiting);
		break;
	default:
		ok = reaped;
		break;
	}
	if (!ok)
		return (h2r_fail(r, "state", "%s and its process disagree",
		    proto_state_name(j->state)));
	if (j->kill_left >= 0 && j->state != PROTO_STOPPING_STATE)
		return (h2r_fail(r, "kill_left", "a stop deadline while %s",
		    proto_state_name(j->state)));
	return (0);
}

/* A job's process is a worker's: not procd's own nor init. */
static int
h2r_job_pid(struct h2r *r, const struct h2_job *j)
{
	if (j->pid <= 1 || j->pid == r->hc->pid)
		return (h2r_fail(r, "pid", "%lld is not a worker's", j->pid));
	return (0);
}

/* Up to the state: the rest needs it. */
static int
h2r_job_head(struct h2r *r, struct h2_job *j, long long prev)
{
	const char	*state;

	if (h2r_int(r, "job id", 1, LLONG_MAX / 2, &j->id) == -1)
		return (-1);
	r->in = "job";
	r->in_id = j->id;
	if (j->id <= prev || j->id >= r->st->next_job)
		return (h2r_fail(r, "id", "out of order"));
	if (h2r_string(r, "name", 0, &j->name, NULL) == -1 ||
	    h2r_count(r, "argv", LLONG_MAX, &j->argv.n) == -1)
		return (-1);
	if (j->argv.n == 0)
		return (h2r_fail(r, "argv", "empty"));
	j->argv.at = r->p;
	if (h2r_strings(r, "argv", j->argv.n) == -1 ||
	    h2r_string(r, "cwd", 0, &j->cwd, NULL) == -1 ||
	    h2r_int(r, "pid", 1, INT_MAX, &j->pid) == -1 ||
	    h2r_int(r, "uid", 0, HANDOFF_UINT_MAX - 1, &j->uid) == -1 ||
	    h2r_int(r, "gid", 0, HANDOFF_UINT_MAX - 1, &j->gid) == -1 ||
	    h2r_bool(r, "daemon", &j->daemon) == -1 ||
	    h2r_double(r, "stop_timeout", 0, HANDOFF_MAX_SECONDS,
	    &j->stop_timeout) == -1 ||
	    h2r_string(r, "state", 0, &state, NULL) == -1)
		return (-1);
	if ((j->state = proto_state_parse(state)) == -1)
		return (h2r_fail(r, "state", "no such state"));
	return (0);
}

static int
h2r_job(struct h2r *r, struct h2_job *j, long long prev)
{
	int	i;

	if (h2r_job_head(r, j, prev) == -1 ||
	    h2r_int(r, "exitcode", -128, 255, &j->exitcode) == -1 ||
	    h2r_int(r, "flags", 0, HANDOFF_JOB_FLAGS, &j->flags) == -1)
		return (-1);
	if (j->flags & ~HANDOFF_JOB_FLAGS)
		return (h2r_fail(r, "flags", "not a set of %#x",
		    HANDOFF_JOB_FLAGS));
	if (h2r_time(r, "started_at", &j->started_at) == -1 ||
	    h2r_double(r, "ran", -1, HANDOFF_MAX_SECONDS, &j->ran) == -1 ||
	    h2r_time(r, "exited_at", &j->exited_at) == -1)
		return (-1);
	for (i = 0; i < 3; i++) {
		if (h2r_int(r, "usage", 0, LLONG_MAX / 2, &j->usage[i]) == -1)
			return (-1);
	}
	if (h2r_left(r, "kill_left", &j->kill_left) == -1 ||
	    h2r_string(r, "error", 1, &j->error, NULL) == -1 ||
	    h2r_job_env(r, j) == -1 ||
	    h2r_job_creds(r, j) == -1 ||
	    h2r_job_restart(r, j) == -1 ||
	    h2r_job_ready(r, j) == -1 ||
	    h2r_job_tree(r, j) == -1 ||
	    h2r_int(r, "parent", 0, LLONG_MAX / 2, &j->parent) == -1)
		return (-1);
	if (j->parent >= j->id)
		return (h2r_fail(r, "parent", "%lld not older", j->parent));
	if (h2r_job_output(r, j) == -1 ||
	    h2r_job_process(r, j) == -1 ||
	    h2r_job_pid(r, j) == -1)
		return (-1);
	return (0);
}

static struct h2_job *
h2_job_find(const struct h2_state *st, long long id)
{
	size_t	lo = 0, hi = st->njobs, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->jobs[mid].id == id)
			return (&st->jobs[mid]);
		if (st->jobs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (NULL);
}

/* Is name job-ID, the name of a job started without one? */
static int
h2_default_name(const char *name, long long id)
{
	const char	*p = name + 4;
	long long	 v = 0;

	if (strncmp(name, "job-", 4) != 0 || *p < '1' || *p > '9')
		return (0);
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || v > (LLONG_MAX - 9) / 10)
			return (0);
		v = v * 10 + (*p - '0');
	}
	return (v == id);
}

static int
h2_pid_compare(const void *a, const void *b)
{
	pid_t	x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x < y ? -1 : x > y);
}

/*
 * Is pid procd's child, running or a zombie only procd may reap? (The
 * kernel's list of children, in /proc, costs more to read at 10,000.)
 */
static int
h2_is_child(pid_t pid)
{
	siginfo_t	si;

	memset(&si, 0, sizeof si);
	return (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0);
}

/*
 * The unreaped jobs' processes: one job each, and (live) each still
 * procd's child, so that signalling its group reaches only the job.
 */
static int
h2r_jobs_pids(struct h2r *r, struct h2_state *st)
{
	pid_t	*pids;
	size_t	 i, n = 0;
	int	 rc = 0;

	pids = xreallocarray(NULL, st->njobs + 1, sizeof *pids);
	for (i = 0; i < st->njobs; i++) {
		if (!(st->jobs[i].flags & JOB_REAPED))
			pids[n++] = st->jobs[i].pid;
	}
	qsort(pids, n, sizeof *pids, h2_pid_compare);
	for (i = 0; i < n && rc == 0; i++) {
		if (i > 0 && pids[i] == pids[i - 1])
			rc = h2r_fail(r, "jobs", "pid %ld in use twice",
			    (long)pids[i]);
		else if (r->hc->live && !h2_is_child(pids[i]))
			rc = h2r_fail(r, "jobs", "pid %ld is not procd's child "
			    "(%s)", (long)pids[i], strerror(errno));
	}
	free(pids);
	return (rc);
}

/*
 * What is checked across jobs, once all are read: names once each (a
 * name job-N is job N's own, so only chosen names can be in use twice);
 * a waiting job has a child that has not finished.
 */
static int
h2r_jobs_across(struct h2r *r, struct h2_state *st)
{
	struct h2_job	*j, *other, *parent;
	size_t		 i, len;

	r->in = "job";
	for (i = 0; i < st->njobs; i++) {
		j = &st->jobs[i];
		r->in_id = j->id;
		if (!h2_default_name(j->name, j->id)) {
			if (!proto_name_valid(j->name))
				return (h2r_fail(r, "name", "not valid"));
			len = strlen(j->name);
			HASH_FIND(hh_name, st->by_name, j->name, len, other);
			if (other != NULL)
				return (h2r_fail(r, "name", "in use"));
			HASH_ADD_KEYPTR(hh_name, st->by_name, j->name, len, j);
		}
		if (j->parent != 0 && j->state != PROTO_EXITED &&
		    (parent = h2_job_find(st, j->parent)) != NULL)
			parent->waited = 1;
	}
	for (i = 0; i < st->njobs; i++) {
		j = &st->jobs[i];
		r->in_id = j->id;
		if (j->state == PROTO_WAITING && !j->waited)
			return (h2r_fail(r, "state", "waiting for no child"));
	}
	r->in = NULL;
	return (h2r_jobs_pids(r, st));
}

/*
 * The jobs, into a table of their number: each job takes some 90 bytes
 * of the state at least, which bounds it; too large to hold is refused.
 */
static int
h2r_jobs(struct h2r *r, struct h2_state *st)
{
	size_t	n;

	if (h2r_count(r, "jobs", LLONG_MAX, &n) == -1)
		return (-1);
	if (n > h2r_left_bytes(r) / H2_JOB_MIN)
		return (h2r_fail(r, "jobs", "%zu past the end", n));
	if ((st->jobs = reallocarray(NULL, n + 1, sizeof *st->jobs)) == NULL)
		return (h2r_fail(r, "jobs", "%zu: %s", n, strerror(errno)));
	for (; st->njobs < n; st->njobs++) {
		memset(&st->jobs[st->njobs], 0, sizeof *st->jobs);
		if (h2r_job(r, &st->jobs[st->njobs], st->njobs == 0 ? 0 :
		    st->jobs[st->njobs - 1].id) == -1)
			return (-1);
	}
	return (h2r_jobs_across(r, st));
}

/* ---- format 2: a client ---- */

/*
 * A parked request waits for something that can still happen: a join
 * for an unfinished job, a follow for open output or a job not yet
 * exited, a start with wait_ready for a running notify job not ready.
 */
static int
h2r_request_answerable(struct h2r *r, const struct h2_request *q,
    const struct h2_job *j)
{
	int	ok = 1;

	switch (q->kind) {
	case KIND_JOIN:
		ok = j->state != PROTO_EXITED;
		break;
	case KIND_FOLLOW:
		ok = j->state != PROTO_EXITED || j->out_fd[0] != -1 ||
		    j->out_fd[1] != -1;
		break;
	case KIND_READY:
		ok = jobstate_alive(j->state) && j->notify && !j->ready;
		break;
	}
	return (ok ? 0 : h2r_fail(r, "request", "waits on job %lld for what "
	    "cannot come", j->id));
}

static int
h2r_request_check(struct h2r *r, const struct h2_request *q,
    size_t nbatches)
{
	const struct h2_job	*j;

	if (q->batch >= (long long)nbatches)
		return (h2r_fail(r, "request batch", "no such batch"));
	if (q->kind == KIND_REEXEC) {
		if (q->job != 0 || q->left >= 0)
			return (h2r_fail(r, "request", "reexec with a job"));
		return (0);
	}
	if ((j = h2_job_find(r->st, q->job)) == NULL)
		return (h2r_fail(r, "request job", "no such job %lld", q->job));
	if (q->kind != KIND_JOIN && q->left >= 0)
		return (h2r_fail(r, "request left", "a timeout only joins "
		    "have"));
	return (h2r_request_answerable(r, q, j));
}

/* A running batch's requests: a JSON array of them, as decoded. */
static int
h2r_batch_rest(struct h2r *r, const struct h2_batch *b)
{
	json_t	*rest;
	int	 rc = 0;

	rest = json_loadb(b->rest, b->restlen, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(rest) || json_array_size(rest) == 0)
		rc = h2r_fail(r, "batch rest", "not an array of requests");
	else if (hc_batch_rest(r->hc, rest) == -1)
		rc = h2r_fail(r, "batch rest", "%s", r->hc->why);
	json_decref(rest);
	return (rc);
}

/*
 * A client's batches: the answers so far, and for the one still running
 * (one at most) the requests it has not run; each of the others is held
 * by a request of its own.
 */
static int
h2r_client_batches(struct h2r *r, struct h2_client *c)
{
	struct h2_batch		 b;
	struct h2_request	 q;
	unsigned char		*held;
	size_t			 i;
	int			 running = 0, rc = -1;

	if (h2r_count(r, "batches", LLONG_MAX, &c->batches.n) == -1)
		return (-1);
	c->batches.at = r->p;
	held = xcalloc(c->batches.n + 1, 1);
	for (i = 0; i < c->batches.n; i++) {
		if (h2r_batch(r, &b) == -1)
			goto out;
		if (b.rest == NULL)
			continue;
		if (running++ > 0) {
			h2r_fail(r, "batch", "more than one running");
			goto out;
		}
		if (h2r_batch_rest(r, &b) == -1)
			goto out;
		held[i] = 1;
	}
	if (h2r_count(r, "requests", LLONG_MAX, &c->requests.n) == -1)
		goto out;
	c->requests.at = r->p;
	for (i = 0; i < c->requests.n; i++) {
		memset(&q, 0, sizeof q);
		if (h2r_request(r, &q) == -1 ||
		    h2r_request_check(r, &q, c->batches.n) == -1)
			goto out;
		if (q.batch >= 0)
			held[q.batch] = 1;
	}
	for (i = 0; i < c->batches.n; i++) {
		if (!held[i]) {
			h2r_fail(r, "batch", "%zu held by none", i);
			goto out;
		}
	}
	rc = 0;
out:
	free(held);
	return (rc);
}

static int
h2r_client_subscriptions(struct h2r *r, struct h2_client *c)
{
	struct h2_state		*st = r->st;
	struct h2_subscription	 s;
	size_t			 i;

	if (h2r_count(r, "subscriptions", LLONG_MAX,
	    &c->subscriptions.n) == -1)
		return (-1);
	c->subscriptions.at = r->p;
	for (i = 0; i < c->subscriptions.n; i++) {
		if (h2r_subscription(r, &s) == -1)
			return (-1);
		if (s.id >= st->next_subscription || s.next > st->seq + 1)
			return (h2r_fail(r, "subscription", "past "
			    "next_subscription or seq"));
		st->sub_ids = xreallocarray(st->sub_ids, st->nsub_ids + 1,
		    sizeof *st->sub_ids);
		st->sub_ids[st->nsub_ids++] = s.id;
	}
	return (0);
}

static int
h2r_client(struct h2r *r, struct h2_client *c)
{
	if (h2r_fd(r, "client fd", 0, S_IFSOCK, &c->fd) == -1)
		return (-1);
	if (h2r_int(r, "client id", 1, HANDOFF_UINT_MAX, &c->id) == -1)
		return (-1);
	r->in = "client";
	r->in_id = c->id;
	if (c->id >= r->st->next_client)
		return (h2r_fail(r, "id", "past next_client"));
	if (h2r_int(r, "flags", 0, HANDOFF_CLIENT_FLAGS, &c->flags) == -1 ||
	    h2r_int(r, "discarded", 0, LLONG_MAX / 2, &c->discarded) == -1 ||
	    h2r_bytes(r, "in", procd_config.max_request + HANDOFF_INPUT_SLACK,
	    &c->in, &c->inlen) == -1 ||
	    h2r_bytes(r, "out", HANDOFF_MAX_SIZE, &c->out, &c->outlen) == -1)
		return (-1);
	if (c->flags & ~HANDOFF_CLIENT_FLAGS)
		return (h2r_fail(r, "flags", "not a set of %#x",
		    HANDOFF_CLIENT_FLAGS));
	if (h2r_client_batches(r, c) == -1 ||
	    h2r_client_subscriptions(r, c) == -1)
		return (-1);
	r->in = NULL;
	return (0);
}

static int
h2_id_compare(const void *a, const void *b)
{
	long long	x = *(const long long *)a, y = *(const long long *)b;

	return (x < y ? -1 : x > y);
}

/* Sorted, then neighbours compared: one id twice is the first found. */
static long long
h2_id_twice(long long *ids, size_t n)
{
	size_t	i;

	if (n < 2)
		return (0);
	qsort(ids, n, sizeof *ids, h2_id_compare);
	for (i = 1; i < n; i++) {
		if (ids[i] == ids[i - 1])
			return (ids[i]);
	}
	return (0);
}

static int
h2r_clients(struct h2r *r, struct h2_state *st)
{
	long long	*ids, twice;
	size_t		 n, i, size = 0;

	if (h2r_count(r, "clients", LLONG_MAX, &n) == -1)
		return (-1);
	while (st->nclients < n) {
		if (st->nclients == size) {
			size = size == 0 ? 64 : size * 2;
			if (size > n)
				size = n;
			st->clients = xreallocarray(st->clients, size,
			    sizeof *st->clients);
		}
		memset(&st->clients[st->nclients], 0, sizeof *st->clients);
		if (h2r_client(r, &st->clients[st->nclients]) == -1)
			return (-1);
		st->nclients++;
	}
	ids = xreallocarray(NULL, n + 1, sizeof *ids);
	for (i = 0; i < n; i++)
		ids[i] = st->clients[i].id;
	twice = h2_id_twice(ids, n);
	free(ids);
	if (twice != 0)
		return (h2r_fail(r, "clients", "id %lld twice", twice));
	if ((twice = h2_id_twice(st->sub_ids, st->nsub_ids)) != 0)
		return (h2r_fail(r, "subscriptions", "id %lld twice", twice));
	return (0);
}

/* The list of fds: each named above, once, and none named left out. */
static int
h2r_fds(struct h2r *r, struct h2_state *st)
{
	long long	fd;
	size_t		i;

	if (h2r_count(r, "fds", HANDOFF_MAX_FDS, &st->fds.n) == -1)
		return (-1);
	st->fds.at = r->p;
	for (i = 0; i < st->fds.n; i++) {
		if (h2r_int(r, "fds", 3, HANDOFF_MAX_FDS - 1, &fd) == -1)
			return (-1);
		if (!(st->named[fd / 8] & (1 << (fd % 8))))
			return (h2r_fail(r, "fds", "fd %lld listed but not "
			    "named, or listed twice", fd));
		st->named[fd / 8] &= ~(1 << (fd % 8));
	}
	if (st->fds.n != st->nnamed)
		return (h2r_fail(r, "fds", "an fd named but not listed"));
	return (0);
}

static void
h2_state_free(struct h2_state *st)
{
	HASH_CLEAR(hh_name, st->by_name);
	free(st->named);
	free(st->sub_ids);
	free(st->jobs);
	free(st->clients);
	memset(st, 0, sizeof *st);
}

/* Whether buf holds a format 2 state (by its first line). */
static int
h2_is(const void *buf, size_t size)
{
	return (size >= H2_MAGIC_LEN && memcmp(buf, H2_MAGIC,
	    H2_MAGIC_LEN) == 0);
}

/*
 * Reads and checks the state in buf into st (pointing into buf, which
 * must outlive it). Returns 0, or -1 with why set and st empty.
 *
 * how: H2_LIVE, the fds and children are looked at; H2_TEXT, so is the
 * text in strings (UTF-8, and each event's JSON), a third of the work.
 * The writer's own check leaves the text out: it is the text procd holds
 * (decoded by jansson, or quoted by procd), and what a mismatch of writer
 * and reader would fail is the rest. Given its state back, the previous
 * image leaves it out too: the memfd is sealed, the state as it checked
 * it, so a state that passed that check is always taken back.
 */
#define H2_LIVE		0x1
#define H2_TEXT		0x2

static int
h2_check(const void *buf, size_t size, int how, struct h2_state *st,
    char *why, size_t len)
{
	struct handoff_check	hc;
	struct h2r		r;

	memset(st, 0, sizeof *st);
	memset(&hc, 0, sizeof hc);
	hc.live = (how & H2_LIVE) != 0;
	memset(&r, 0, sizeof r);
	r.trusted = !(how & H2_TEXT);
	r.start = buf;
	r.p = r.start + H2_MAGIC_LEN;
	r.end = r.start + size;
	r.hc = &hc;
	r.st = st;
	st->start = r.start;
	st->end = r.end;
	st->named = xcalloc(HANDOFF_MAX_FDS / 8, 1);
	if (h2r_head(&r, st) == -1 ||
	    h2r_events(&r, st) == -1 ||
	    h2r_jobs(&r, st) == -1 ||
	    h2r_clients(&r, st) == -1 ||
	    h2r_fds(&r, st) == -1)
		goto fail;
	if (r.p != r.end) {
		h2r_fail(&r, "state", "%zu bytes after its end",
		    h2r_left_bytes(&r));
		goto fail;
	}
	HASH_CLEAR(hh_name, st->by_name);
	free(st->named);
	st->named = NULL;
	free(st->sub_ids);
	st->sub_ids = NULL;
	return (0);
fail:
	snprintf(why, len, "%s", hc.why);
	h2_state_free(st);
	return (-1);
}

/* ---- format 2: taking over ---------------------------------------------- */

/*
 * A cursor on a list the check has read: reading it again cannot fail
 * (the memfd is sealed, and a check is the same walk). Should it, procd
 * stops rather than run on half a state.
 */
static struct handoff_check	h2a_check;

struct h2a {
	struct h2r		r;
};

static struct h2r *
h2a_at(struct h2a *a, const struct h2_state *st, const unsigned char *at)
{
	a->r.start = st->start;
	a->r.p = at;
	a->r.end = st->end;
	a->r.trusted = 1;
	a->r.hc = &h2a_check;
	a->r.st = NULL;
	a->r.in = NULL;
	return (&a->r);
}

static void
h2a_sure(struct h2r *r, int rc)
{
	if (rc == -1)
		fatalx("handoff: the state changed after its check: %s",
		    r->hc->why);
}

/* argv, and as JSON text: quoted as names are, not dumped by jansson. */
static json_t *
h2a_argv(const struct h2_state *st, const struct h2_job *j, char **text)
{
	struct h2a	 a;
	struct h2r	*r = h2a_at(&a, st, j->argv.at);
	const json_t	*v;
	const char	*s;
	json_t		*argv = json_array();
	size_t		 i, len, size = 3, n = 0;

	for (i = 0; i < j->argv.n; i++) {
		h2a_sure(r, h2r_string(r, "argv", 0, &s, &len));
		json_array_append_new(argv, json_stringn_nocheck(s, len));
		size += proto_json_quote_bound(len) + 3;
	}
	*text = xmalloc(size);
	(*text)[n++] = '[';
	for (i = 0; i < j->argv.n; i++) {
		v = json_array_get(argv, i);
		if (i > 0)
			(*text)[n++] = ',';
		(*text)[n++] = '"';
		n += proto_json_quote(json_string_value(v),
		    json_string_length(v), *text + n);
		(*text)[n++] = '"';
	}
	(*text)[n++] = ']';
	(*text)[n] = '\0';
	return (argv);
}

static json_t *
h2a_env(const struct h2_state *st, const struct h2_job *j)
{
	struct h2a	 a;
	struct h2r	*r = h2a_at(&a, st, j->env.at);
	const char	*key, *value;
	json_t		*env;
	size_t		 i, len;

	if (!j->has_env)
		return (NULL);
	env = json_object();
	for (i = 0; i < j->env.n; i++) {
		h2a_sure(r, h2r_env_entry(r, &key, &value, &len));
		json_object_set_new_nocheck(env, key, value == NULL ?
		    json_null() : json_stringn_nocheck(value, len));
	}
	return (env);
}

static void
h2a_groups(const struct h2_state *st, const struct h2_job *j,
    struct job *job)
{
	struct h2a	 a;
	struct h2r	*r = h2a_at(&a, st, j->groups.at);
	long long	 gid;
	size_t		 i;

	job->creds.change = j->change;
	job->creds.uid = job->uid;
	job->creds.gid = job->gid;
	job->creds.ngroups = j->groups.n;
	job->creds.groups = xreallocarray(NULL, j->groups.n + 1,
	    sizeof *job->creds.groups);
	for (i = 0; i < j->groups.n; i++) {
		h2a_sure(r, h2r_group(r, &gid));
		job->creds.groups[i] = gid;
	}
}

static void
h2a_job_output(const struct h2_state *st, const struct h2_job *j,
    struct job *job)
{
	struct h2a		 a;
	struct h2r		*r = h2a_at(&a, st, j->records.at);
	const unsigned char	*data;
	long long		 stream;
	size_t			 i, len;
	int			 fds[2];

	output_init(job, j->out_mode, j->log_limit);
	for (i = 0; i < j->records.n; i++) {
		h2a_sure(r, h2r_record(r, &stream, &data, &len));
		logbuf_append(&job->log, stream, (const char *)data, len);
	}
	job->log.truncated = j->truncated;
	fds[0] = j->out_fd[0];
	fds[1] = j->out_fd[1];
	output_adopt(job, fds, j->grace_left);
}

static void
h2a_job_tree(const struct h2_job *j, struct job *job)
{
	job->tree = 1;
	job->cg_fd = j->cg_fd;
	job->cg_events = j->cg_events;
	job->cg_kill = j->cg_kill;
	job->cg_waiting = j->cg_waiting;
	job->cg_killed = j->cg_killed;
	job->cg_user_base = j->cg_base[0];
	job->cg_system_base = j->cg_base[1];
	if (j->cg_fd != -1)		/* else finished: folder removed */
		cgroup_job_adopt(job);
}

static void
h2a_usage(const struct h2_job *j, struct rusage *ru)
{
	memset(ru, 0, sizeof *ru);
	ru->ru_utime.tv_sec = j->usage[0] / 1000000;
	ru->ru_utime.tv_usec = j->usage[0] % 1000000;
	ru->ru_stime.tv_sec = j->usage[1] / 1000000;
	ru->ru_stime.tv_usec = j->usage[1] % 1000000;
	ru->ru_maxrss = j->usage[2];
}

/* What the job is and who runs it. */
static struct job *
h2a_job_new(struct h2_state *st, const struct h2_job *j)
{
	struct job	*job;
	struct user	*owner;
	json_t		*argv;
	char		*argv_text;

	owner = user_get(j->uid);
	/* Once a user: most jobs are the last one's owner's. */
	if (owner != st->owner) {
		user_db_load(owner);
		st->owner = owner;
	}
	argv = h2a_argv(st, j, &argv_text);
	job = job_new(j->id, j->name, argv, argv_text, j->cwd, owner, j->gid);
	job->pid = j->pid;
	job->env = h2a_env(st, j);
	h2a_groups(st, j, job);
	return (job);
}

static void
h2a_job(struct h2_state *st, const struct h2_job *j,
    const struct timespec *mono)
{
	struct job	*job;
	double		 ran;

	job = h2a_job_new(st, j);
	job->daemon = j->daemon;
	job->stop_timeout = j->stop_timeout;
	job->state = j->state;
	job->exitcode = j->exitcode;
	job->flags = j->flags;
	job->started_at = j->started_at;
	ran = j->ran;
	job->started_mono.tv_sec = mono->tv_sec - (time_t)ran;
	job->started_mono.tv_nsec = mono->tv_nsec -
	    (long)((ran - (time_t)ran) * 1e9);
	if (job->started_mono.tv_nsec < 0) {
		job->started_mono.tv_sec--;
		job->started_mono.tv_nsec += 1000000000;
	} else if (job->started_mono.tv_nsec >= 1000000000) {
		job->started_mono.tv_sec++;
		job->started_mono.tv_nsec -= 1000000000;
	}
	job->exited_at = j->exited_at;
	h2a_usage(j, &job->usage);
	if (j->error != NULL)
		job->error_text = job_quote(j->error);

	job->parent_id = j->parent;

	job->restart_policy = j->policy;
	job->restart_delay = j->delay;
	job->restart_max_delay = j->max_delay;
	job->restart_last_delay = j->last_delay;
	job->restart_limit = j->limit;
	job->restarts = j->count;
	job->restart_at = j->restart_at;

	job->notify = j->notify;
	job->ready = j->ready;
	if (j->status != NULL)
		job->status_text = job_quote(j->status);

	if (j->tree)
		h2a_job_tree(j, job);
	h2a_job_output(st, j, job);
	job_adopt(job, j->kill_left);
	if (job->state == PROTO_RESTARTING)
		restart_resume(job, j->restart_left, j->due);
	if (j->ready_left >= 0)
		ready_timer_resume(job, j->ready_left);
}

/* The id as request_new keeps it: the value and its JSON text. */
static void
h2a_request_id(struct request *req, const struct h2_request *q)
{
	switch (q->idtype) {
	case H2_ID_NONE:
		return;
	case H2_ID_NULL:
		req->id = json_null();
		break;
	case H2_ID_INT:
		req->id = json_integer(q->idint);
		xasprintf(&req->idtext, "%lld", q->idint);
		return;
	case H2_ID_REAL:
		req->id = json_real(q->idreal);
		break;
	default:
		req->id = json_stringn_nocheck(q->idstring, q->idlen);
		break;
	}
	if ((req->idtext = proto_dump(req->id)) == NULL)
		fatalx("%s: cannot encode an id", __func__);
}

static void
h2a_follow(struct request *req, const struct h2_request *q)
{
	char	out[32];
	int	i;

	req->follow_streams = q->streams;
	req->follow_base64 = q->base64;
	req->follow_truncated = q->truncated;
	for (i = 0; i < 2; i++)
		proto_utf8_decode(&req->follow_utf8[i], q->utf8[i],
		    q->utf8len[i], 0, out);
}

/*
 * Parks a handed-over request again where it waited, in either format:
 * on its job's queue (a join with the seconds it had left), or with the
 * reexecs to answer.
 */
static void
handoff_park(struct request *req, int kind, long long job_id, double left,
    struct requests *reexecs)
{
	struct job	*job = NULL;

	if (kind != KIND_REEXEC)
		job = job_find_id(job_id);
	switch (kind) {
	case KIND_JOIN:
		req->method = &method_join_entry;
		request_park_job(req, job, &job->waiters, left,
		    method_join_timeout);
		break;
	case KIND_FOLLOW:
		req->method = &method_logs_entry;
		request_park_job(req, job, &job->followers, -1, NULL);
		break;
	case KIND_READY:
		req->method = &method_start_entry;
		request_park_job(req, job, &job->ready_waiters, -1, NULL);
		break;
	case KIND_REEXEC:
		req->method = &method_reexec_entry;
		request_park(req);
		TAILQ_INSERT_TAIL(reexecs, req, job_entry);
		req->queue = reexecs;
		break;
	}
}

static void
h2a_request(struct client *c, const struct h2_request *q,
    struct batch **batches, struct requests *reexecs)
{
	struct request	*req;

	req = xcalloc(1, sizeof *req);
	req->client = c;
	req->params = json_object();
	h2a_request_id(req, q);
	if (q->batch >= 0) {
		req->batch = batches[q->batch];
		req->batch->outstanding++;
	}
	if (q->kind == KIND_FOLLOW)
		h2a_follow(req, q);
	handoff_park(req, q->kind, q->job, q->left, reexecs);
}

/* The running batch: its requests not yet run, decoded as when sent. */
static void
h2a_batch_rest(struct client *c, struct batch *b, const struct h2_batch *hb)
{
	struct proto_request	*pr;
	const json_t		*e;
	json_t			*rest;
	size_t			 i;

	if (hb->rest == NULL)
		return;
	rest = json_loadb(hb->rest, hb->restlen, JSON_REJECT_DUPLICATES,
	    NULL);
	if (rest == NULL)
		fatalx("handoff: the state changed after its check");
	b->msg.root = rest;		/* what the entries borrow */
	b->msg.batch = 1;
	b->msg.nrequests = json_array_size(rest);
	b->msg.requests = xcalloc(b->msg.nrequests, sizeof *b->msg.requests);
	for (i = 0; i < b->msg.nrequests; i++) {
		e = json_array_get(rest, i);
		pr = &b->msg.requests[i];
		pr->id = json_object_get(e, "id");
		if (json_object_get(e, "error") != NULL) {
			pr->error = hv_int(e, "error");
			pr->message = hv_str(e, "message");
		} else {
			pr->method = hv_str(e, "method");
			pr->params = json_object_get(e, "params");
		}
	}
	b->outstanding++;	/* held until every entry has run */
	c->batch = b;
}

static void
h2a_subscriptions(const struct h2_state *st, struct client *c,
    const struct h2_client *hc)
{
	struct h2a		 a, aj;
	struct h2r		*r = h2a_at(&a, st, hc->subscriptions.at);
	struct h2r		*rj;
	struct h2_subscription	 s;
	long long		*ids;
	size_t			 i, k;

	for (i = 0; i < hc->subscriptions.n; i++) {
		h2a_sure(r, h2r_subscription(r, &s));
		ids = NULL;
		if (!s.all) {
			rj = h2a_at(&aj, st, s.jobs.at);
			ids = xreallocarray(NULL, s.jobs.n + 1, sizeof *ids);
			for (k = 0; k < s.jobs.n; k++)
				h2a_sure(rj, h2r_int(rj, "subscription jobs",
				    1, LLONG_MAX / 2, &ids[k]));
		}
		feed_handoff_subscribe(c, s.id, ids, s.jobs.n, s.next);
	}
}

static void
h2a_client(const struct h2_state *st, const struct h2_client *hc,
    struct requests *reexecs)
{
	struct h2a		  a;
	struct h2r		 *r;
	struct client		 *c;
	struct batch		**batches;
	struct h2_batch		  hb;
	struct h2_request	  q;
	size_t			  i;

	c = client_adopt(hc->fd, hc->id, hc->flags, hc->discarded, hc->in,
	    hc->inlen, hc->out, hc->outlen);
	r = h2a_at(&a, st, hc->batches.at);
	batches = xreallocarray(NULL, hc->batches.n + 1, sizeof *batches);
	for (i = 0; i < hc->batches.n; i++) {
		h2a_sure(r, h2r_batch(r, &hb));
		batches[i] = request_batch_new(c);
		evbuffer_add(batches[i]->out, hb.out, hb.outlen);
		h2a_batch_rest(c, batches[i], &hb);
	}
	r = h2a_at(&a, st, hc->requests.at);
	for (i = 0; i < hc->requests.n; i++) {
		memset(&q, 0, sizeof q);
		h2a_sure(r, h2r_request(r, &q));
		h2a_request(c, &q, batches, reexecs);
	}
	free(batches);
	h2a_subscriptions(st, c, hc);
}

static void
h2a_events(const struct h2_state *st)
{
	struct h2a	 a;
	struct h2r	*r = h2a_at(&a, st, st->events.at);
	struct h2_event	 e;
	size_t		 i;

	feed_handoff_set(st->seq, st->next_subscription);
	for (i = 0; i < st->events.n; i++) {
		h2a_sure(r, h2r_event(r, &e));
		feed_handoff_record(e.seq, e.type, e.job, e.owner, e.text);
	}
}

/*
 * Takes over a checked state. The fds it names lose their close-on-exec
 * flag only for the exec; workers must not inherit them.
 */
static void
h2a_state(struct h2_state *st, struct handoff_loaded *hl)
{
	struct h2a	 a;
	struct h2r	*r = h2a_at(&a, st, st->fds.at);
	struct timespec	 mono;
	struct client	*c;
	long long	 fd;
	size_t		 i;

	/* The state's fds only: one procd was given (a log's, say) keeps
	 * its flag across the next exec too. */
	for (i = 0; i < st->fds.n; i++) {
		h2a_sure(r, h2r_int(r, "fds", 3, HANDOFF_MAX_FDS - 1, &fd));
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	hl->previous_version = xstrdup(st->version);
	procd_started = st->started_at;
	procd_image_started = st->image_started_at;
	procd_reexecs = st->reexecs;
	/* The path it was started from: after a give-back, /proc/self/exe
	 * names the old file, which an upgrade may have replaced. */
	if (st->program != NULL)
		reexec_set_program(st->program);
	procd_nofile.rlim_cur = st->nofile[0];
	procd_nofile.rlim_max = st->nofile[1];
	listen_handoff_set(&st->listen);
	ready_adopt(st->notify_fd);
	cgroup_handoff_set(&st->cgroup);
	h2a_events(st);
	job_set_next_id(st->next_job);
	clock_gettime(CLOCK_MONOTONIC, &mono);
	for (i = 0; i < st->njobs; i++)
		h2a_job(st, &st->jobs[i], &mono);
	client_next_id_set(st->next_client);
	for (i = 0; i < st->nclients; i++)
		h2a_client(st, &st->clients[i], &hl->reexecs);
	TAILQ_FOREACH(c, &clients, entry)
		client_adopted(c);
}
/* ---- format 1: checking ------------------------------------------------ */

/*
 * A field of an object: its type and, for numbers, its range.
 *   i integer    n number    b boolean    s string    S string or null
 *   N number or null    t time [sec, nsec]    a array    o object
 *   O object or null    m flags within max    x anything (checked by the
 *   caller)
 */
struct hfield {
	const char	*key;
	char		 type;
	long long	 min;
	long long	 max;
};

static int
hc_string(const json_t *v)
{
	return (json_is_string(v) &&
	    strlen(json_string_value(v)) == json_string_length(v));
}

static int
hc_field(struct handoff_check *hc, const char *what, const json_t *v,
    const struct hfield *f)
{
	double	d;

	switch (f->type) {
	case 'i':
		if (!json_is_integer(v) || json_integer_value(v) < f->min ||
		    json_integer_value(v) > f->max)
			return (hc_fail(hc, "%s.%s: not an integer in [%lld, "
			    "%lld]", what, f->key, f->min, f->max));
		return (0);
	case 'm':
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (json_integer_value(v) & ~f->max) != 0)
			return (hc_fail(hc, "%s.%s: not a set of %#llx", what,
			    f->key, f->max));
		return (0);
	case 'N':
		if (json_is_null(v))
			return (0);
		/* FALLTHROUGH */
	case 'n':
		d = json_number_value(v);
		if (!json_is_number(v) || !(d >= f->min && d <= f->max))
			return (hc_fail(hc, "%s.%s: not a number in [%lld, "
			    "%lld]", what, f->key, f->min, f->max));
		return (0);
	case 'b':
		return (json_is_boolean(v) ? 0 : hc_fail(hc, "%s.%s: not a "
		    "boolean", what, f->key));
	case 'S':
		if (json_is_null(v))
			return (0);
		/* FALLTHROUGH */
	case 's':
		return (hc_string(v) ? 0 : hc_fail(hc, "%s.%s: not a string",
		    what, f->key));
	case 't':
		if (!json_is_array(v) || json_array_size(v) != 2 ||
		    !json_is_integer(json_array_get(v, 0)) ||
		    !json_is_integer(json_array_get(v, 1)) ||
		    json_integer_value(json_array_get(v, 0)) < 0 ||
		    json_integer_value(json_array_get(v, 0)) > (1LL << 40) ||
		    json_integer_value(json_array_get(v, 1)) < 0 ||
		    json_integer_value(json_array_get(v, 1)) > 999999999)
			return (hc_fail(hc, "%s.%s: not a time", what, f->key));
		return (0);
	case 'a':
		return (json_is_array(v) ? 0 : hc_fail(hc, "%s.%s: not an "
		    "array", what, f->key));
	case 'O':
		if (json_is_null(v))
			return (0);
		/* FALLTHROUGH */
	case 'o':
		return (json_is_object(v) ? 0 : hc_fail(hc, "%s.%s: not an "
		    "object", what, f->key));
	default:
		return (0);
	}
}

/* o is an object with exactly the fields fs, each of its type. */
static int
hc_object(struct handoff_check *hc, const char *what, const json_t *o,
    const struct hfield *fs)
{
	const struct hfield	*f;
	size_t			 n = 0;
	json_t			*v;

	if (!json_is_object(o))
		return (hc_fail(hc, "%s: not an object", what));
	for (f = fs; f->key != NULL; f++, n++) {
		if ((v = json_object_get(o, f->key)) == NULL)
			return (hc_fail(hc, "%s: no %s", what, f->key));
		if (hc_field(hc, what, v, f) == -1)
			return (-1);
	}
	if (json_object_size(o) != n)
		return (hc_fail(hc, "%s: unknown fields", what));
	return (0);
}

/*
 * An fd the document names: at most once, listed in "fds", and (live)
 * open and of the kind wanted (an S_IFMT type, or 0 for any).
 */
static int
hc_fd(struct handoff_check *hc, const char *what, const json_t *v,
    int optional, mode_t kind)
{
	struct stat	sb;
	char		key[16];
	long long	fd;

	if (!json_is_integer(v))
		return (hc_fail(hc, "%s: fd not an integer", what));
	fd = json_integer_value(v);
	if (fd == -1 && optional)
		return (0);
	if (fd < 3 || fd >= HANDOFF_MAX_FDS)
		return (hc_fail(hc, "%s: fd %lld out of range", what, fd));
	snprintf(key, sizeof key, "%lld", fd);
	if (json_object_get(hc->fds, key) != json_true())
		return (hc_fail(hc, "%s: fd %lld not listed or named twice",
		    what, fd));
	json_object_set(hc->fds, key, json_false());
	if (!hc->live)
		return (0);
	if (fstat((int)fd, &sb) == -1)
		return (hc_fail(hc, "%s: fd %lld: %s", what, fd,
		    strerror(errno)));
	if (kind != 0 && (sb.st_mode & S_IFMT) != kind)
		return (hc_fail(hc, "%s: fd %lld is not of the right kind",
		    what, fd));
	return (0);
}

/* Base64 of at most max bytes; the decoded length in *len. */
static int
hc_bytes(struct handoff_check *hc, const char *what, const json_t *v,
    size_t max, size_t *len)
{
	void	*buf;
	ssize_t	 n;

	if (!json_is_string(v) || json_string_length(v) / 4 * 3 > max + 3)
		return (hc_fail(hc, "%s: not base64 of at most %zu bytes",
		    what, max));
	buf = xmalloc(json_string_length(v) / 4 * 3 + 3);
	n = proto_base64_decode(json_string_value(v), json_string_length(v),
	    buf);
	free(buf);
	if (n < 0 || (size_t)n > max)
		return (hc_fail(hc, "%s: not base64 of at most %zu bytes",
		    what, max));
	if (len != NULL)
		*len = n;
	return (0);
}

static const struct hfield hc_doc_fields[] = {
	{ "format", 's', 0, 0 },
	{ "version", 's', 0, 0 },
	{ "pid", 'i', 1, INT_MAX },
	{ "started_at", 't', 0, 0 },
	{ "image_started_at", 't', 0, 0 },
	{ "reexecs", 'i', 0, LLONG_MAX - 1 },
	{ "program", 'S', 0, 0 },
	{ "nofile", 'a', 0, 0 },
	{ "listen", 'o', 0, 0 },
	{ "notify_fd", 'x', 0, 0 },
	{ "cgroup", 'o', 0, 0 },
	{ "next_job", 'i', 1, LLONG_MAX / 2 },
	{ "next_client", 'i', 1, HANDOFF_UINT_MAX },
	{ "next_subscription", 'i', 1, LLONG_MAX / 2 },
	{ "seq", 'i', 0, LLONG_MAX / 2 },
	{ "events", 'a', 0, 0 },
	{ "jobs", 'a', 0, 0 },
	{ "clients", 'a', 0, 0 },
	{ "fds", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_listen_fields[] = {
	{ "path", 's', 0, 0 },
	{ "owned", 'b', 0, 0 },
	{ "dirfd", 'x', 0, 0 },
	{ "name", 'S', 0, 0 },
	{ "dev", 'i', 0, LLONG_MAX },
	{ "ino", 'i', 0, LLONG_MAX },
	{ "sockets", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_cgroup_fields[] = {
	{ "ok", 'b', 0, 0 },
	{ "why", 'S', 0, 0 },
	{ "root", 'S', 0, 0 },
	{ "rel", 'S', 0, 0 },
	{ "fd", 'x', 0, 0 },
	{ "kill", 'b', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_job_fields[] = {
	{ "id", 'i', 1, LLONG_MAX / 2 },
	{ "name", 's', 0, 0 },
	{ "argv", 'a', 0, 0 },
	{ "cwd", 's', 0, 0 },
	{ "pid", 'i', 1, INT_MAX },
	{ "uid", 'i', 0, HANDOFF_UINT_MAX - 1 },
	{ "gid", 'i', 0, HANDOFF_UINT_MAX - 1 },
	{ "daemon", 'b', 0, 0 },
	{ "stop_timeout", 'n', 0, HANDOFF_MAX_SECONDS },
	{ "state", 's', 0, 0 },
	{ "exitcode", 'i', -128, 255 },
	{ "flags", 'm', 0, HANDOFF_JOB_FLAGS },
	{ "started_at", 't', 0, 0 },
	{ "ran", 'n', -1, HANDOFF_MAX_SECONDS },
	{ "exited_at", 't', 0, 0 },
	{ "usage", 'a', 0, 0 },
	{ "kill_left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "error", 'S', 0, 0 },
	{ "env", 'O', 0, 0 },
	{ "creds", 'o', 0, 0 },
	{ "restart", 'o', 0, 0 },
	{ "ready", 'o', 0, 0 },
	{ "tree", 'O', 0, 0 },
	{ "parent", 'i', 0, LLONG_MAX / 2 },
	{ "output", 'o', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_creds_fields[] = {
	{ "change", 'b', 0, 0 },
	{ "groups", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_restart_fields[] = {
	{ "policy", 's', 0, 0 },
	{ "delay", 'n', 0, HANDOFF_MAX_SECONDS },
	{ "max_delay", 'n', 0, HANDOFF_MAX_SECONDS },
	{ "last_delay", 'n', -1, HANDOFF_MAX_SECONDS },
	{ "limit", 'i', -1, LLONG_MAX / 2 },
	{ "count", 'i', 0, LLONG_MAX / 2 },
	{ "at", 't', 0, 0 },
	{ "left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "due", 'b', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_ready_fields[] = {
	{ "notify", 'b', 0, 0 },
	{ "ready", 'b', 0, 0 },
	{ "status", 'S', 0, 0 },
	{ "left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_tree_fields[] = {
	{ "fd", 'x', 0, 0 },
	{ "events", 'x', 0, 0 },
	{ "kill", 'x', 0, 0 },
	{ "waiting", 'b', 0, 0 },
	{ "killed", 'b', 0, 0 },
	{ "base", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_output_fields[] = {
	{ "mode", 'i', OUTPUT_CAPTURE, OUTPUT_NULL },
	{ "fds", 'a', 0, 0 },
	{ "grace_left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "limit", 'i', 0, PROTO_MAX_LOG_LIMIT },
	{ "truncated", 'b', 0, 0 },
	{ "records", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_client_fields[] = {
	{ "fd", 'x', 0, 0 },
	{ "id", 'i', 1, HANDOFF_UINT_MAX },
	{ "flags", 'm', 0, HANDOFF_CLIENT_FLAGS },
	{ "discarded", 'i', 0, LLONG_MAX / 2 },
	{ "in", 'x', 0, 0 },
	{ "out", 'x', 0, 0 },
	{ "batches", 'a', 0, 0 },
	{ "requests", 'a', 0, 0 },
	{ "subscriptions", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_request_fields[] = {
	{ "kind", 's', 0, 0 },
	{ "notification", 'b', 0, 0 },
	{ "id", 'x', 0, 0 },
	{ "job", 'i', 0, LLONG_MAX / 2 },
	{ "left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "batch", 'i', -1, INT_MAX },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_follow_fields[] = {
	{ "streams", 'i', 1, 3 },
	{ "base64", 'b', 0, 0 },
	{ "truncated", 'b', 0, 0 },
	{ "utf8", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static int
hc_int_array(struct handoff_check *hc, const char *what, const json_t *a,
    size_t n, long long min, long long max)
{
	size_t	i;

	if (!json_is_array(a) || (n != 0 && json_array_size(a) != n))
		return (hc_fail(hc, "%s: not an array of %zu", what, n));
	for (i = 0; i < json_array_size(a); i++) {
		if (!json_is_integer(json_array_get(a, i)) ||
		    json_integer_value(json_array_get(a, i)) < min ||
		    json_integer_value(json_array_get(a, i)) > max)
			return (hc_fail(hc, "%s: element %zu out of range",
			    what, i));
	}
	return (0);
}

/* A pending utf8 sequence: a valid, incomplete start of a character. */
static int
hc_utf8(struct handoff_check *hc, const json_t *v)
{
	struct proto_utf8	u;
	unsigned char		buf[8];
	char			out[32];
	size_t			len;

	if (hc_bytes(hc, "follow utf8", v, 3, &len) == -1)
		return (-1);
	proto_base64_decode(json_string_value(v), json_string_length(v), buf);
	memset(&u, 0, sizeof u);
	if (proto_utf8_decode(&u, buf, len, 0, out) != 0 ||
	    (size_t)u.have != len)
		return (hc_fail(hc, "follow utf8: not a character's start"));
	return (0);
}

/*
 * Whether the process is reaped agrees with the state: running has its
 * process, stopping too unless it is a tree waiting for its cgroup to
 * empty; waiting, restarting and exited have none.
 */
static int
hc_job_reaped(struct handoff_check *hc, const json_t *j, int state)
{
	const json_t	*tree = json_object_get(j, "tree");
	int		 reaped = (hv_int(j, "flags") & JOB_REAPED) != 0;
	int		 ok;

	switch (state) {
	case PROTO_RUNNING:
		ok = !reaped;
		break;
	case PROTO_STOPPING_STATE:
		ok = !reaped || (json_is_object(tree) &&
		    json_is_true(json_object_get(tree, "waiting")));
		break;
	default:
		ok = reaped;
		break;
	}
	return (ok ? 0 : hc_fail(hc, "job %lld: state %s and its process "
	    "disagree", hv_int(j, "id"), hv_str(j, "state")));
}

/*
 * A job's process is a child of procd's (so signalling its group reaches
 * only the job), not procd nor init; unreaped, it must still be one
 * (live: running, or a zombie only this process may reap).
 */
static int
hc_job_pid(struct handoff_check *hc, const json_t *j)
{
	siginfo_t	si;
	long long	pid = hv_int(j, "pid");

	if (pid <= 1 || pid == hc->pid)
		return (hc_fail(hc, "job %lld: pid %lld is not a worker's",
		    hv_int(j, "id"), pid));
	if (!hc->live || (hv_int(j, "flags") & JOB_REAPED))
		return (0);
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return (hc_fail(hc, "job %lld: pid %lld is not procd's child "
		    "(%s)", hv_int(j, "id"), pid, strerror(errno)));
	return (0);
}

/*
 * Timers that only some states have: a stop deadline while stopping, a
 * readiness deadline while a notify job runs and is not ready.
 */
static int
hc_job_timers(struct handoff_check *hc, const json_t *j, int state)
{
	const json_t	*ready = json_object_get(j, "ready");

	if (!json_is_null(json_object_get(j, "kill_left")) &&
	    state != PROTO_STOPPING_STATE)
		return (hc_fail(hc, "job %lld: a stop deadline while %s",
		    hv_int(j, "id"), hv_str(j, "state")));
	if (!json_is_null(json_object_get(ready, "left")) &&
	    (!jobstate_alive(state) ||
	    !json_is_true(json_object_get(ready, "notify")) ||
	    json_is_true(json_object_get(ready, "ready"))))
		return (hc_fail(hc, "job %lld: a readiness deadline it cannot "
		    "meet", hv_int(j, "id")));
	return (0);
}

static int
hc_job(struct handoff_check *hc, const json_t *j, long long prev_id,
    long long next_job, json_t *ids, json_t *names, json_t *pids)
{
	const json_t	*v, *o;
	char		 key[32];
	long long	 id, parent;
	size_t		 i, len;
	int		 state, gone;

	if (hc_object(hc, "job", j, hc_job_fields) == -1)
		return (-1);
	id = hv_int(j, "id");
	if (id <= prev_id || id >= next_job)
		return (hc_fail(hc, "job %lld: id out of order", id));
	snprintf(key, sizeof key, "%lld", id);
	json_object_set(ids, key, (json_t *)j);
	parent = hv_int(j, "parent");
	if (parent >= id)
		return (hc_fail(hc, "job %lld: parent %lld not older", id,
		    parent));
	snprintf(key, sizeof key, "job-%lld", id);
	if ((!proto_name_valid(hv_str(j, "name")) &&
	    strcmp(hv_str(j, "name"), key) != 0) ||
	    json_object_get(names, hv_str(j, "name")) != NULL)
		return (hc_fail(hc, "job %lld: name not valid or in use", id));
	json_object_set_new(names, hv_str(j, "name"), json_true());
	v = json_object_get(j, "argv");
	if (json_array_size(v) == 0)
		return (hc_fail(hc, "job %lld: empty argv", id));
	for (i = 0; i < json_array_size(v); i++) {
		if (!hc_string(json_array_get(v, i)))
			return (hc_fail(hc, "job %lld: argv", id));
	}
	if ((state = proto_state_parse(hv_str(j, "state"))) == -1)
		return (hc_fail(hc, "job %lld: no such state", id));
	if (hc_job_reaped(hc, j, state) == -1 ||
	    hc_job_timers(hc, j, state) == -1)
		return (-1);
	if (hc_job_pid(hc, j) == -1)
		return (-1);
	if (!(hv_int(j, "flags") & JOB_REAPED)) {
		snprintf(key, sizeof key, "%lld", hv_int(j, "pid"));
		if (json_object_get(pids, key) != NULL)
			return (hc_fail(hc, "job %lld: pid in use", id));
		json_object_set_new(pids, key, json_true());
	}
	if (hc_int_array(hc, "usage", json_object_get(j, "usage"), 3, 0,
	    LLONG_MAX / 2) == -1)
		return (-1);
	if ((v = json_object_get(j, "env")) != NULL && json_is_object(v)) {
		const char	*k;
		json_t		*e;

		json_object_foreach((json_t *)v, k, e) {
			/* null: the client unset it. */
			if ((!hc_string(e) && !json_is_null(e)) || *k == '\0' ||
			    strchr(k, '=') != NULL)
				return (hc_fail(hc, "job %lld: env", id));
		}
	}
	o = json_object_get(j, "creds");
	if (hc_object(hc, "creds", o, hc_creds_fields) == -1 ||
	    hc_int_array(hc, "creds.groups", json_object_get(o, "groups"), 0,
	    0, HANDOFF_UINT_MAX - 1) == -1)
		return (-1);
	if (json_array_size(json_object_get(o, "groups")) > 65536)
		return (hc_fail(hc, "job %lld: too many groups", id));
	o = json_object_get(j, "restart");
	if (hc_object(hc, "restart", o, hc_restart_fields) == -1)
		return (-1);
	if (jobstate_policy_parse(hv_str(o, "policy")) == -1)
		return (hc_fail(hc, "job %lld: no such restart policy", id));
	if ((state == PROTO_RESTARTING) != (json_is_number(json_object_get(o,
	    "left")) || json_is_true(json_object_get(o, "due"))))
		return (hc_fail(hc, "job %lld: restart schedule and state "
		    "disagree", id));
	o = json_object_get(j, "ready");
	if (hc_object(hc, "ready", o, hc_ready_fields) == -1)
		return (-1);
	if ((o = json_object_get(j, "tree")) != NULL && !json_is_null(o)) {
		/* A finished tree's cgroup is gone: its fds are -1. */
		gone = state == PROTO_EXITED && hv_int(o, "fd") == -1;
		if (hc_object(hc, "tree", o, hc_tree_fields) == -1 ||
		    hc_fd(hc, "tree.fd", json_object_get(o, "fd"), gone,
		    S_IFDIR) == -1 ||
		    hc_fd(hc, "tree.events", json_object_get(o, "events"), gone,
		    S_IFREG) == -1 ||
		    (gone && (hv_int(o, "events") != -1 ||
		    hv_int(o, "kill") != -1) && hc_fail(hc, "job %lld: files of "
		    "a tree folder gone", id) == -1) ||
		    hc_fd(hc, "tree.kill", json_object_get(o, "kill"), 1,
		    S_IFREG) == -1 ||
		    hc_int_array(hc, "tree.base", json_object_get(o, "base"),
		    2, 0, LLONG_MAX) == -1)
			return (-1);
	}
	o = json_object_get(j, "output");
	if (hc_object(hc, "output", o, hc_output_fields) == -1)
		return (-1);
	v = json_object_get(o, "fds");
	if (hv_int(o, "mode") != OUTPUT_CAPTURE && json_is_array(v) &&
	    (json_integer_value(json_array_get(v, 0)) != -1 ||
	    json_integer_value(json_array_get(v, 1)) != -1))
		return (hc_fail(hc, "job %lld: pipes without capture", id));
	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    hc_fd(hc, "output.fds", json_array_get(v, 0), 1, S_IFIFO) == -1 ||
	    hc_fd(hc, "output.fds", json_array_get(v, 1), 1, S_IFIFO) == -1)
		return (hc_fail(hc, "job %lld: output fds: %s", id, hc->why));
	v = json_object_get(o, "records");
	for (i = 0; i < json_array_size(v); i++) {
		o = json_array_get(v, i);
		if (!json_is_array(o) || json_array_size(o) != 2 ||
		    !json_is_integer(json_array_get(o, 0)) ||
		    json_integer_value(json_array_get(o, 0)) < 0 ||
		    json_integer_value(json_array_get(o, 0)) > 1 ||
		    hc_bytes(hc, "output record", json_array_get(o, 1),
		    PROTO_MAX_LOG_LIMIT, &len) == -1)
			return (hc_fail(hc, "job %lld: output records", id));
	}
	return (0);
}

/*
 * A parked request waits for something that can still happen: a join
 * for an unfinished job, a follow for open output or a job not yet
 * exited, a start with wait_ready for a running notify job not ready.
 */
static int
hc_request_answerable(struct handoff_check *hc, int kind, const json_t *job)
{
	const json_t	*ready = json_object_get(job, "ready");
	const json_t	*fds = json_object_get(json_object_get(job, "output"),
			    "fds");
	int		 state = proto_state_parse(hv_str(job, "state"));
	int		 ok = 1;

	switch (kind) {
	case KIND_JOIN:
		ok = state != PROTO_EXITED;
		break;
	case KIND_FOLLOW:
		ok = state != PROTO_EXITED ||
		    json_integer_value(json_array_get(fds, 0)) != -1 ||
		    json_integer_value(json_array_get(fds, 1)) != -1;
		break;
	case KIND_READY:
		ok = jobstate_alive(state) &&
		    json_is_true(json_object_get(ready, "notify")) &&
		    !json_is_true(json_object_get(ready, "ready"));
		break;
	}
	return (ok ? 0 : hc_fail(hc, "request: waits on job %lld for what "
	    "cannot come", hv_int(job, "id")));
}

static int
hc_request(struct handoff_check *hc, const json_t *r, const json_t *ids,
    size_t nbatches)
{
	const json_t	*id, *job;
	char		 key[32];
	int		 kind;

	if (hc_object(hc, "request", r, hc_request_fields) == -1)
		return (-1);
	/* A follow has one field more. */
	if ((kind = hc_kind(hv_str(r, "kind"))) == -1)
		return (hc_fail(hc, "request: no such kind"));
	/* A notification has no id (null here); an id may be null too. */
	id = json_object_get(r, "id");
	if ((!json_is_string(id) && !json_is_integer(id) && !json_is_real(id) &&
	    !json_is_null(id)) || (json_is_true(json_object_get(r,
	    "notification")) && !json_is_null(id)))
		return (hc_fail(hc, "request: id"));
	if (hv_int(r, "batch") >= (long long)nbatches)
		return (hc_fail(hc, "request: no such batch"));
	if (kind == KIND_REEXEC) {
		if (hv_int(r, "job") != 0 || !json_is_null(json_object_get(r,
		    "left")))
			return (hc_fail(hc, "request: reexec with a job"));
		return (0);
	}
	snprintf(key, sizeof key, "%lld", hv_int(r, "job"));
	if ((job = json_object_get(ids, key)) == NULL)
		return (hc_fail(hc, "request: no such job %s", key));
	if (kind != KIND_JOIN && !json_is_null(json_object_get(r, "left")))
		return (hc_fail(hc, "request: a timeout only joins have"));
	return (hc_request_answerable(hc, kind, job));
}

/* The request objects of the handoff: a follow carries "follow". */
static int
hc_request_any(struct handoff_check *hc, const json_t *r, const json_t *ids,
    size_t nbatches)
{
	json_t	*copy, *f;
	int	 rc;

	if (!json_is_object(r))
		return (hc_fail(hc, "request: not an object"));
	f = json_object_get(r, "follow");
	if ((f != NULL) != (json_is_string(json_object_get(r, "kind")) &&
	    hc_kind(hv_str(r, "kind")) == KIND_FOLLOW))
		return (hc_fail(hc, "request: follow fields"));
	if (f != NULL) {
		if (hc_object(hc, "follow", f, hc_follow_fields) == -1)
			return (-1);
		f = json_object_get(f, "utf8");
		if (json_array_size(f) != 2 ||
		    hc_utf8(hc, json_array_get(f, 0)) == -1 ||
		    hc_utf8(hc, json_array_get(f, 1)) == -1)
			return (hc_fail(hc, "follow utf8: %s", hc->why));
	}
	copy = json_copy((json_t *)r);
	json_object_del(copy, "follow");
	rc = hc_request(hc, copy, ids, nbatches);
	json_decref(copy);
	return (rc);
}

/*
 * The requests a running batch has not run, each as decoded: a method
 * with its params, or the error it is answered with; an id if it had one.
 */
static int
hc_batch_rest(struct handoff_check *hc, const json_t *rest)
{
	const json_t	*e, *id, *p;
	size_t		 i, n;

	for (i = 0; i < json_array_size(rest); i++) {
		e = json_array_get(rest, i);
		n = 0;
		if (!json_is_object(e))
			return (hc_fail(hc, "batch request %zu: not an object",
			    i));
		if ((id = json_object_get(e, "id")) != NULL) {
			n++;
			if (!hc_string(id) && !json_is_number(id) &&
			    !json_is_null(id))
				return (hc_fail(hc, "batch request %zu: id", i));
		}
		if (json_object_get(e, "error") != NULL) {
			n += 2;
			if (!json_is_integer(json_object_get(e, "error")) ||
			    hv_int(e, "error") < -32768 ||
			    hv_int(e, "error") > -32000 ||
			    !hc_string(json_object_get(e, "message")))
				return (hc_fail(hc, "batch request %zu: error",
				    i));
		} else {
			n++;
			if (!hc_string(json_object_get(e, "method")))
				return (hc_fail(hc, "batch request %zu: method",
				    i));
			if ((p = json_object_get(e, "params")) != NULL) {
				n++;
				if (!json_is_object(p) && !json_is_array(p))
					return (hc_fail(hc, "batch request "
					    "%zu: params", i));
			}
		}
		if (json_object_size(e) != n)
			return (hc_fail(hc, "batch request %zu: unknown fields",
			    i));
	}
	return (0);
}

static const struct hfield hc_batch_fields[] = {
	{ "out", 'x', 0, 0 },
	{ "rest", 'x', 0, 0 },
	{ NULL, 0, 0, 0 }
};

/*
 * A client's batches: the answers so far, and for the one still running
 * (one at most) the requests it has not run, at least one.
 */
static int
hc_batches(struct handoff_check *hc, const json_t *batches)
{
	const json_t	*b, *rest;
	size_t		 i;
	int		 running = 0;

	for (i = 0; i < json_array_size(batches); i++) {
		b = json_array_get(batches, i);
		if (hc_object(hc, "batch", b, hc_batch_fields) == -1 ||
		    hc_bytes(hc, "batch.out", json_object_get(b, "out"),
		    SIZE_MAX / 4, NULL) == -1)
			return (-1);
		rest = json_object_get(b, "rest");
		if (json_is_null(rest))
			continue;
		if (!json_is_array(rest) || json_array_size(rest) == 0 ||
		    running++ > 0)
			return (hc_fail(hc, "batch: not one running batch with "
			    "requests left"));
		if (hc_batch_rest(hc, rest) == -1)
			return (-1);
	}
	return (0);
}

static int
hc_client(struct handoff_check *hc, const json_t *c, const json_t *ids,
    json_t *client_ids, json_t *sub_ids, long long next_sub,
    long long seq)
{
	const json_t	*v, *s, *b;
	char		 key[32];
	size_t		 i, nb;

	if (hc_object(hc, "client", c, hc_client_fields) == -1 ||
	    hc_fd(hc, "client", json_object_get(c, "fd"), 0, S_IFSOCK) == -1 ||
	    hc_bytes(hc, "client.in", json_object_get(c, "in"),
	    procd_config.max_request + HANDOFF_INPUT_SLACK, NULL) == -1 ||
	    hc_bytes(hc, "client.out", json_object_get(c, "out"),
	    SIZE_MAX / 4, NULL) == -1)
		return (-1);
	snprintf(key, sizeof key, "%lld", hv_int(c, "id"));
	if (json_object_get(client_ids, key) != NULL)
		return (hc_fail(hc, "client %s: id twice", key));
	json_object_set_new(client_ids, key, json_true());
	v = json_object_get(c, "batches");
	nb = json_array_size(v);
	if (hc_batches(hc, v) == -1)
		return (-1);
	b = json_object_get(c, "requests");
	for (i = 0; i < json_array_size(b); i++) {
		if (hc_request_any(hc, json_array_get(b, i), ids, nb) == -1)
			return (-1);
	}
	/* Every batch is running or held by a request of its own. */
	for (i = 0; i < nb; i++) {
		size_t	k;

		if (!json_is_null(json_object_get(json_array_get(v, i),
		    "rest")))
			continue;
		for (k = 0; k < json_array_size(b); k++) {
			if (hv_int(json_array_get(b, k), "batch") ==
			    (long long)i)
				break;
		}
		if (k == json_array_size(b))
			return (hc_fail(hc, "client: batch %zu held by none",
			    i));
	}
	v = json_object_get(c, "subscriptions");
	for (i = 0; i < json_array_size(v); i++) {
		s = json_array_get(v, i);
		if (!json_is_array(s) || json_array_size(s) != 3 ||
		    !json_is_integer(json_array_get(s, 0)) ||
		    json_integer_value(json_array_get(s, 0)) < 1 ||
		    json_integer_value(json_array_get(s, 0)) >= next_sub ||
		    !json_is_integer(json_array_get(s, 2)) ||
		    json_integer_value(json_array_get(s, 2)) < 0 ||
		    json_integer_value(json_array_get(s, 2)) > seq + 1)
			return (hc_fail(hc, "client: subscription"));
		if (!json_is_null(json_array_get(s, 1)) &&
		    (hc_int_array(hc, "subscription jobs", json_array_get(s, 1),
		    0, 1, LLONG_MAX / 2) == -1 ||
		    json_array_size(json_array_get(s, 1)) > 1024 * 1024))
			return (-1);
		snprintf(key, sizeof key, "%lld",
		    (long long)json_integer_value(json_array_get(s, 0)));
		if (json_object_get(sub_ids, key) != NULL)
			return (hc_fail(hc, "subscription %s twice", key));
		json_object_set_new(sub_ids, key, json_true());
	}
	return (0);
}

/*
 * An event's job, kept as the JSON text it is sent as: an object, with
 * no line break to cut the line it is sent in.
 */
static int
hc_object_text(const json_t *v)
{
	const char	*t = json_string_value(v);
	json_t		*o;
	int		 ok;

	if (!hc_string(v) || strpbrk(t, "\r\n") != NULL)
		return (0);
	o = json_loadb(t, json_string_length(v), JSON_REJECT_DUPLICATES,
	    NULL);
	ok = json_is_object(o);
	json_decref(o);
	return (ok);
}

static int
hc_events(struct handoff_check *hc, const json_t *events, long long seq)
{
	const json_t	*e;
	size_t		 i, n = json_array_size(events);

	if ((long long)n > seq)
		return (hc_fail(hc, "events: more than seq"));
	for (i = 0; i < n; i++) {
		e = json_array_get(events, i);
		if (!json_is_array(e) || json_array_size(e) != 5 ||
		    !json_is_integer(json_array_get(e, 0)) ||
		    json_integer_value(json_array_get(e, 0)) !=
		    seq - (long long)n + 1 + (long long)i ||
		    !json_is_string(json_array_get(e, 1)) ||
		    feed_type_known(json_string_value(json_array_get(e, 1))) ==
		    NULL ||
		    !json_is_integer(json_array_get(e, 2)) ||
		    json_integer_value(json_array_get(e, 2)) < 1 ||
		    !json_is_integer(json_array_get(e, 3)) ||
		    json_integer_value(json_array_get(e, 3)) < 0 ||
		    json_integer_value(json_array_get(e, 3)) >=
		    HANDOFF_UINT_MAX ||
		    !hc_object_text(json_array_get(e, 4)))
			return (hc_fail(hc, "event %zu malformed", i));
	}
	return (0);
}

/*
 * The cgroup subtree's path names the folder its fd holds: procd removes
 * that path when it stops.
 */
static int
hc_same_folder(struct handoff_check *hc, const json_t *cg)
{
	struct stat	a, b;

	if (!hc->live || hv_int(cg, "fd") == -1)
		return (0);
	if (lstat(hv_str(cg, "root"), &a) == -1 ||
	    fstat(hv_int(cg, "fd"), &b) == -1 || !S_ISDIR(a.st_mode) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return (hc_fail(hc, "cgroup: %s is not the subtree procd holds",
		    hv_str(cg, "root")));
	return (0);
}

/*
 * A waiting job has a child that has not finished, to wait for: one pass
 * marks the parents of unfinished jobs, one looks at the waiting ones.
 */
static int
hc_waiting(struct handoff_check *hc, const json_t *list)
{
	const json_t	*j;
	json_t		*waited;
	char		 key[32];
	size_t		 i;
	int		 rc = 0;

	waited = json_object();
	json_array_foreach(list, i, j) {
		if (hv_int(j, "parent") != 0 &&
		    proto_state_parse(hv_str(j, "state")) != PROTO_EXITED) {
			snprintf(key, sizeof key, "%lld", hv_int(j, "parent"));
			json_object_set(waited, key, json_true());
		}
	}
	json_array_foreach(list, i, j) {
		snprintf(key, sizeof key, "%lld", hv_int(j, "id"));
		if (proto_state_parse(hv_str(j, "state")) == PROTO_WAITING &&
		    json_object_get(waited, key) == NULL) {
			rc = hc_fail(hc, "job %lld: waiting for no child",
			    hv_int(j, "id"));
			break;
		}
	}
	json_decref(waited);
	return (rc);
}

/* Every fd listed is named somewhere: none would be left open unowned. */
static int
hc_all_named(struct handoff_check *hc)
{
	const char	*key;
	json_t		*v;

	json_object_foreach(hc->fds, key, v) {
		if (v != json_false())
			return (hc_fail(hc, "fd %s listed but not named", key));
	}
	return (0);
}

static int
hc_document(struct handoff_check *hc, const json_t *doc)
{
	const json_t	*v, *o;
	json_t		*ids, *names, *pids, *client_ids, *sub_ids;
	char		 key[16];
	long long	 prev = 0, fd;
	size_t		 i;
	int		 rc = -1;

	if (!json_is_object(doc) || !hc_string(json_object_get(doc,
	    "format")) || strcmp(hv_str(doc, "format"), HANDOFF_FORMAT_1) != 0)
		return (hc_fail(hc, "not a %s document", HANDOFF_FORMAT_1));
	if (hc_object(hc, "state", doc, hc_doc_fields) == -1)
		return (-1);
#ifdef PROCD_TEST_HOOKS
	/* The test build only: a new image that refuses, to test going back. */
	if (hc->live && getenv("PROCD_TEST_REFUSE_HANDOFF") != NULL)
		return (hc_fail(hc, "refused for a test "
		    "(PROCD_TEST_REFUSE_HANDOFF is set)"));
#endif
	if (hc->live && hv_int(doc, "pid") != getpid())
		return (hc_fail(hc, "written by pid %lld, not this one",
		    hv_int(doc, "pid")));
	hc->pid = hv_int(doc, "pid");
	if (!json_is_null(json_object_get(doc, "program")) &&
	    hv_str(doc, "program")[0] != '/')
		return (hc_fail(hc, "program: not an absolute path"));
	v = json_object_get(doc, "nofile");
	if (hc_int_array(hc, "nofile", v, 2, 0, LLONG_MAX) == -1)
		return (-1);
	if (json_integer_value(json_array_get(v, 0)) >
	    json_integer_value(json_array_get(v, 1)))
		return (hc_fail(hc, "nofile: soft limit above the hard one"));
	/* The fds first: each may be named once below. */
	v = json_object_get(doc, "fds");
	if (json_array_size(v) > HANDOFF_MAX_FDS)
		return (hc_fail(hc, "too many fds"));
	for (i = 0; i < json_array_size(v); i++) {
		if (!json_is_integer(json_array_get(v, i)))
			return (hc_fail(hc, "fds: not an integer"));
		fd = json_integer_value(json_array_get(v, i));
		snprintf(key, sizeof key, "%lld", fd);
		if (fd < 3 || fd >= HANDOFF_MAX_FDS ||
		    json_object_get(hc->fds, key) != NULL)
			return (hc_fail(hc, "fds: %lld out of range or twice",
			    fd));
		json_object_set_new(hc->fds, key, json_true());
	}
	o = json_object_get(doc, "listen");
	if (hc_object(hc, "listen", o, hc_listen_fields) == -1 ||
	    hc_fd(hc, "listen.dirfd", json_object_get(o, "dirfd"), 1,
	    S_IFDIR) == -1)
		return (-1);
	v = json_object_get(o, "sockets");
	if (json_array_size(v) < 1 || json_array_size(v) > 16)
		return (hc_fail(hc, "listen: 1 to 16 sockets"));
	for (i = 0; i < json_array_size(v); i++) {
		if (hc_fd(hc, "listen.sockets", json_array_get(v, i), 0,
		    S_IFSOCK) == -1)
			return (-1);
	}
	if (hc_fd(hc, "notify_fd", json_object_get(doc, "notify_fd"), 0,
	    S_IFSOCK) == -1)
		return (-1);
	o = json_object_get(doc, "cgroup");
	if (hc_object(hc, "cgroup", o, hc_cgroup_fields) == -1 ||
	    hc_fd(hc, "cgroup.fd", json_object_get(o, "fd"), 1,
	    S_IFDIR) == -1)
		return (-1);
	if (hv_int(o, "fd") != -1 && (json_is_null(json_object_get(o,
	    "root")) || json_is_null(json_object_get(o, "rel"))))
		return (hc_fail(hc, "cgroup: a subtree without a path"));
	if (json_is_true(json_object_get(o, "ok")) && hv_int(o, "fd") == -1)
		return (hc_fail(hc, "cgroup: available without a subtree"));
	if (hc_same_folder(hc, o) == -1)
		return (-1);
	if (hc_events(hc, json_object_get(doc, "events"),
	    hv_int(doc, "seq")) == -1)
		return (-1);

	ids = json_object();
	names = json_object();
	pids = json_object();
	client_ids = json_object();
	sub_ids = json_object();
	v = json_object_get(doc, "jobs");
	for (i = 0; i < json_array_size(v); i++) {
		o = json_array_get(v, i);
		if (hc_job(hc, o, prev, hv_int(doc, "next_job"), ids, names,
		    pids) == -1)
			goto out;
		if (json_object_get(o, "tree") != NULL &&
		    !json_is_null(json_object_get(o, "tree")) &&
		    hv_int(json_object_get(doc, "cgroup"), "fd") == -1)
			goto out_tree;
		prev = hv_int(o, "id");
	}
	if (hc_waiting(hc, v) == -1)
		goto out;
	v = json_object_get(doc, "clients");
	for (i = 0; i < json_array_size(v); i++) {
		o = json_array_get(v, i);
		if (hc_client(hc, o, ids, client_ids, sub_ids,
		    hv_int(doc, "next_subscription"), hv_int(doc, "seq")) == -1)
			goto out;
		if (hv_int(o, "id") >= hv_int(doc, "next_client")) {
			hc_fail(hc, "client id past next_client");
			goto out;
		}
	}
	if (hc_all_named(hc) == -1)
		goto out;
	rc = 0;
	goto out;
out_tree:
	hc_fail(hc, "a tree job without a cgroup subtree");
out:
	json_decref(ids);
	json_decref(names);
	json_decref(pids);
	json_decref(client_ids);
	json_decref(sub_ids);
	return (rc);
}

/* ---- format 1: taking over --------------------------------------------- */

static void
ha_time(const json_t *v, struct timespec *ts)
{
	ts->tv_sec = json_integer_value(json_array_get(v, 0));
	ts->tv_nsec = json_integer_value(json_array_get(v, 1));
}

/* Decodes base64 the check has seen; returns malloc'd bytes and *len. */
static char *
ha_bytes(const json_t *v, size_t *len)
{
	char	*buf;
	ssize_t	 n;

	buf = xmalloc(json_string_length(v) / 4 * 3 + 3);
	n = proto_base64_decode(json_string_value(v), json_string_length(v),
	    buf);
	*len = n > 0 ? (size_t)n : 0;
	return (buf);
}

static void
ha_usage(const json_t *v, struct rusage *ru)
{
	long long	u = json_integer_value(json_array_get(v, 0));
	long long	s = json_integer_value(json_array_get(v, 1));

	memset(ru, 0, sizeof *ru);
	ru->ru_utime.tv_sec = u / 1000000;
	ru->ru_utime.tv_usec = u % 1000000;
	ru->ru_stime.tv_sec = s / 1000000;
	ru->ru_stime.tv_usec = s % 1000000;
	ru->ru_maxrss = json_integer_value(json_array_get(v, 2));
}

static void
ha_job_output(struct job *job, const json_t *o)
{
	const json_t	*records, *r;
	char		*data;
	size_t		 i, len;
	int		 fds[2];

	output_init(job, hv_int(o, "mode"), hv_int(o, "limit"));
	records = json_object_get(o, "records");
	for (i = 0; i < json_array_size(records); i++) {
		r = json_array_get(records, i);
		data = ha_bytes(json_array_get(r, 1), &len);
		logbuf_append(&job->log, json_integer_value(json_array_get(r,
		    0)), data, len);
		free(data);
	}
	job->log.truncated = json_is_true(json_object_get(o, "truncated"));
	fds[0] = json_integer_value(json_array_get(json_object_get(o, "fds"),
	    0));
	fds[1] = json_integer_value(json_array_get(json_object_get(o, "fds"),
	    1));
	output_adopt(job, fds, hv_num(o, "grace_left"));
}

static void
ha_job_tree(struct job *job, const json_t *o)
{
	int	gone = hv_int(o, "fd") == -1;	/* finished: folder removed */

	job->tree = 1;
	job->cg_fd = hv_int(o, "fd");
	job->cg_events = hv_int(o, "events");
	job->cg_kill = hv_int(o, "kill");
	job->cg_waiting = json_is_true(json_object_get(o, "waiting"));
	job->cg_killed = json_is_true(json_object_get(o, "killed"));
	job->cg_user_base = json_integer_value(json_array_get(
	    json_object_get(o, "base"), 0));
	job->cg_system_base = json_integer_value(json_array_get(
	    json_object_get(o, "base"), 1));
	if (!gone)
		cgroup_job_adopt(job);
}

static void
ha_job(const json_t *j)
{
	struct job	*job;
	struct user	*owner;
	const json_t	*o, *v;
	size_t		 i;

	owner = user_get(hv_int(j, "uid"));
	user_db_load(owner);
	job = job_new(hv_int(j, "id"), hv_str(j, "name"), json_deep_copy(
	    json_object_get(j, "argv")), NULL, hv_str(j, "cwd"), owner,
	    hv_int(j, "gid"));
	job->pid = hv_int(j, "pid");
	job->daemon = json_is_true(json_object_get(j, "daemon"));
	job->stop_timeout = hv_num(j, "stop_timeout");
	job->state = proto_state_parse(hv_str(j, "state"));
	job->exitcode = hv_int(j, "exitcode");
	job->flags = hv_int(j, "flags");
	ha_time(json_object_get(j, "started_at"), &job->started_at);
	time_from_now(CLOCK_MONOTONIC, -hv_num(j, "ran"), &job->started_mono);
	ha_time(json_object_get(j, "exited_at"), &job->exited_at);
	ha_usage(json_object_get(j, "usage"), &job->usage);
	if (!json_is_null(v = json_object_get(j, "error")))
		job->error_text = job_quote(json_string_value(v));
	if (!json_is_null(v = json_object_get(j, "env")))
		job->env = json_deep_copy(v);

	o = json_object_get(j, "creds");
	job->creds.change = json_is_true(json_object_get(o, "change"));
	job->creds.uid = job->uid;
	job->creds.gid = job->gid;
	v = json_object_get(o, "groups");
	job->creds.ngroups = json_array_size(v);
	job->creds.groups = xreallocarray(NULL, job->creds.ngroups + 1,
	    sizeof *job->creds.groups);
	for (i = 0; i < job->creds.ngroups; i++)
		job->creds.groups[i] = json_integer_value(json_array_get(v, i));

	job->parent_id = hv_int(j, "parent");

	o = json_object_get(j, "restart");
	job->restart_policy = jobstate_policy_parse(hv_str(o, "policy"));
	job->restart_delay = hv_num(o, "delay");
	job->restart_max_delay = hv_num(o, "max_delay");
	job->restart_last_delay = hv_num(o, "last_delay");
	job->restart_limit = hv_int(o, "limit");
	job->restarts = hv_int(o, "count");
	ha_time(json_object_get(o, "at"), &job->restart_at);

	v = json_object_get(j, "ready");
	job->notify = json_is_true(json_object_get(v, "notify"));
	job->ready = json_is_true(json_object_get(v, "ready"));
	if (!json_is_null(json_object_get(v, "status")))
		job->status_text = job_quote(hv_str(v, "status"));

	if (!json_is_null(json_object_get(j, "tree")))
		ha_job_tree(job, json_object_get(j, "tree"));
	ha_job_output(job, json_object_get(j, "output"));
	job_adopt(job, hv_num(j, "kill_left"));
	if (job->state == PROTO_RESTARTING)
		restart_resume(job, hv_num(o, "left"),
		    json_is_true(json_object_get(o, "due")));
	if (hv_num(v, "left") >= 0)
		ready_timer_resume(job, hv_num(v, "left"));
}

static void
ha_follow(struct request *req, const json_t *f)
{
	const json_t	*u = json_object_get(f, "utf8");
	char		*seq, out[32];
	size_t		 len;
	int		 i;

	req->follow_streams = hv_int(f, "streams");
	req->follow_base64 = json_is_true(json_object_get(f, "base64"));
	req->follow_truncated = json_is_true(json_object_get(f, "truncated"));
	for (i = 0; i < 2; i++) {
		seq = ha_bytes(json_array_get(u, i), &len);
		proto_utf8_decode(&req->follow_utf8[i], seq, len, 0, out);
		free(seq);
	}
}

/* The id as request_new keeps it: the value and its JSON text. */
static void
ha_request_id(struct request *req, const json_t *id)
{
	req->id = json_deep_copy(id);
	if (json_is_integer(id))
		xasprintf(&req->idtext, "%lld",
		    (long long)json_integer_value(id));
	else if ((req->idtext = proto_dump(id)) == NULL)
		fatalx("%s: cannot encode an id", __func__);
}

static void
ha_request(struct client *c, const json_t *r, struct batch **batches,
    struct requests *reexecs)
{
	struct request	*req;
	int		 kind = hc_kind(hv_str(r, "kind"));
	long long	 b = hv_int(r, "batch");

	req = xcalloc(1, sizeof *req);
	req->client = c;
	req->params = json_object();
	if (!json_is_true(json_object_get(r, "notification")))
		ha_request_id(req, json_object_get(r, "id"));
	if (b >= 0) {
		req->batch = batches[b];
		req->batch->outstanding++;
	}
	if (kind == KIND_FOLLOW)
		ha_follow(req, json_object_get(r, "follow"));
	handoff_park(req, kind, kind == KIND_REEXEC ? 0 : hv_int(r, "job"),
	    kind == KIND_JOIN ? hv_num(r, "left") : -1, reexecs);
}

static void
ha_subscriptions(struct client *c, const json_t *subs)
{
	const json_t	*s, *only;
	long long	*ids = NULL;
	size_t		 i, k, n;

	for (i = 0; i < json_array_size(subs); i++) {
		s = json_array_get(subs, i);
		only = json_array_get(s, 1);
		n = json_array_size(only);
		if (!json_is_null(only)) {
			ids = xreallocarray(NULL, n + 1, sizeof *ids);
			for (k = 0; k < n; k++)
				ids[k] = json_integer_value(json_array_get(only,
				    k));
		}
		feed_handoff_subscribe(c,
		    json_integer_value(json_array_get(s, 0)), ids, n,
		    json_integer_value(json_array_get(s, 2)));
		ids = NULL;
	}
}

/* The running batch: its requests not yet run, decoded as when sent. */
static void
ha_batch_rest(struct client *c, struct batch *b, const json_t *rest)
{
	struct proto_request	*pr;
	const json_t		*e;
	size_t			 i;

	if (json_is_null(rest))
		return;
	b->msg.root = json_deep_copy(rest);	/* what the entries borrow */
	b->msg.batch = 1;
	b->msg.nrequests = json_array_size(rest);
	b->msg.requests = xcalloc(b->msg.nrequests, sizeof *b->msg.requests);
	for (i = 0; i < b->msg.nrequests; i++) {
		e = json_array_get(b->msg.root, i);
		pr = &b->msg.requests[i];
		pr->id = json_object_get(e, "id");
		if (json_object_get(e, "error") != NULL) {
			pr->error = hv_int(e, "error");
			pr->message = hv_str(e, "message");
		} else {
			pr->method = hv_str(e, "method");
			pr->params = json_object_get(e, "params");
		}
	}
	b->outstanding++;	/* held until every entry has run */
	c->batch = b;
}

static struct client *
ha_client(const json_t *o, struct requests *reexecs)
{
	struct client	 *c;
	struct batch	**batches;
	const json_t	 *v;
	char		 *in, *out, *text;
	size_t		  inlen, outlen, len, i, nb;

	in = ha_bytes(json_object_get(o, "in"), &inlen);
	out = ha_bytes(json_object_get(o, "out"), &outlen);
	c = client_adopt(hv_int(o, "fd"), hv_int(o, "id"), hv_int(o, "flags"),
	    hv_int(o, "discarded"), in, inlen, out, outlen);
	free(in);
	free(out);
	v = json_object_get(o, "batches");
	nb = json_array_size(v);
	batches = xreallocarray(NULL, nb + 1, sizeof *batches);
	for (i = 0; i < nb; i++) {
		batches[i] = request_batch_new(c);
		text = ha_bytes(json_object_get(json_array_get(v, i), "out"),
		    &len);
		evbuffer_add(batches[i]->out, text, len);
		free(text);
		ha_batch_rest(c, batches[i], json_object_get(json_array_get(v,
		    i), "rest"));
	}
	v = json_object_get(o, "requests");
	for (i = 0; i < json_array_size(v); i++)
		ha_request(c, json_array_get(v, i), batches, reexecs);
	free(batches);
	ha_subscriptions(c, json_object_get(o, "subscriptions"));
	return (c);
}

static void
ha_listen(const json_t *o)
{
	struct listen_handoff	 lh;
	const json_t		*v = json_object_get(o, "sockets");
	size_t			 i;

	memset(&lh, 0, sizeof lh);
	for (i = 0; i < json_array_size(v); i++)
		lh.fds[i] = json_integer_value(json_array_get(v, i));
	lh.nfds = json_array_size(v);
	lh.path = hv_str(o, "path");
	lh.owned = json_is_true(json_object_get(o, "owned"));
	lh.dirfd = hv_int(o, "dirfd");
	lh.name = hv_str(o, "name");
	lh.dev = hv_int(o, "dev");
	lh.ino = hv_int(o, "ino");
	listen_handoff_set(&lh);
}

static void
ha_cgroup(const json_t *o)
{
	struct cgroup_handoff	ch;

	ch.ok = json_is_true(json_object_get(o, "ok"));
	ch.why = hv_str(o, "why");
	ch.root = hv_str(o, "root");
	ch.rel = hv_str(o, "rel");
	ch.fd = hv_int(o, "fd");
	ch.have_kill = json_is_true(json_object_get(o, "kill"));
	cgroup_handoff_set(&ch);
}

/*
 * Takes over a checked document. The fds it names lose their
 * close-on-exec flag only for the exec; workers must not inherit them.
 */
static void
ha_document(const json_t *doc, struct handoff_loaded *hl)
{
	const json_t	*v, *e;
	struct client	*c;
	size_t		 i;

	v = json_object_get(doc, "fds");
	for (i = 0; i < json_array_size(v); i++)
		fcntl(json_integer_value(json_array_get(v, i)), F_SETFD,
		    FD_CLOEXEC);
	hl->previous_version = xstrdup(hv_str(doc, "version"));
	ha_time(json_object_get(doc, "started_at"), &procd_started);
	ha_time(json_object_get(doc, "image_started_at"),
	    &procd_image_started);
	procd_reexecs = hv_int(doc, "reexecs");
	/* The path it was started from: after a give-back, /proc/self/exe
	 * names the old file, which an upgrade may have replaced. */
	if (!json_is_null(json_object_get(doc, "program")))
		reexec_set_program(hv_str(doc, "program"));
	v = json_object_get(doc, "nofile");
	procd_nofile.rlim_cur = json_integer_value(json_array_get(v, 0));
	procd_nofile.rlim_max = json_integer_value(json_array_get(v, 1));
	ha_listen(json_object_get(doc, "listen"));
	ready_adopt(hv_int(doc, "notify_fd"));
	ha_cgroup(json_object_get(doc, "cgroup"));

	feed_handoff_set(hv_int(doc, "seq"), hv_int(doc, "next_subscription"));
	v = json_object_get(doc, "events");
	for (i = 0; i < json_array_size(v); i++) {
		e = json_array_get(v, i);
		feed_handoff_record(json_integer_value(json_array_get(e, 0)),
		    json_string_value(json_array_get(e, 1)),
		    json_integer_value(json_array_get(e, 2)),
		    json_integer_value(json_array_get(e, 3)),
		    json_string_value(json_array_get(e, 4)));
	}
	job_set_next_id(hv_int(doc, "next_job"));
	v = json_object_get(doc, "jobs");
	for (i = 0; i < json_array_size(v); i++)
		ha_job(json_array_get(v, i));
	client_next_id_set(hv_int(doc, "next_client"));
	v = json_object_get(doc, "clients");
	for (i = 0; i < json_array_size(v); i++)
		ha_client(json_array_get(v, i), &hl->reexecs);
	TAILQ_FOREACH(c, &clients, entry)
		client_adopted(c);
}


/* ---- both formats ------------------------------------------------------- */

/* Format 1: a JSON document, checked (live or not). */
static int
handoff_check_doc(const json_t *doc, int live, char *why, size_t len)
{
	struct handoff_check	hc;
	int			rc;

	memset(&hc, 0, sizeof hc);
	hc.live = live;
	hc.fds = json_object();
	rc = hc_document(&hc, doc);
	json_decref(hc.fds);
	if (rc == -1)
		snprintf(why, len, "%s", hc.why);
	return (rc);
}

static json_t *
handoff_parse(const void *buf, size_t size, char *why, size_t len)
{
	json_error_t	 err;
	json_t		*doc;

	if ((doc = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL)
		snprintf(why, len, "state file: %s at line %d", err.text,
		    err.line);
	return (doc);
}

/*
 * The format of the state in buf: 2 by its first line, else 1 (JSON); 0
 * with why set for a format named there that this program does not read.
 */
static int
handoff_format(const void *buf, size_t size, char *why, size_t len)
{
	static const char	 prefix[] = "procd-handoff-";
	const char		*p = buf;
	size_t			 n = sizeof prefix - 1;

	if (h2_is(buf, size))
		return (2);
	if (size < n || memcmp(p, prefix, n) != 0)
		return (1);
	while (n < size && n < 40 && (p[n] == '-' || (p[n] >= '0' &&
	    p[n] <= '9') || (p[n] >= 'a' && p[n] <= 'z')))
		n++;
	snprintf(why, len, "state of a format this program does not read "
	    "(%.*s)", (int)n, p);
	return (0);
}

/* Would a reexec take the state in buf? The format it is in, in *format. */
static int
handoff_check_any(const void *buf, size_t size, const char **format,
    char *why, size_t len)
{
	struct h2_state	 st;
	json_t		*doc;
	int		 rc = -1;

	switch (handoff_format(buf, size, why, len)) {
	case 2:
		*format = HANDOFF_FORMAT_2;
		if ((rc = h2_check(buf, size, H2_TEXT, &st, why, len)) == 0)
			h2_state_free(&st);
		break;
	case 1:
		*format = HANDOFF_FORMAT_1;
		if ((doc = handoff_parse(buf, size, why, len)) == NULL)
			break;
		rc = handoff_check_doc(doc, 0, why, len);
		json_decref(doc);
		break;
	}
	return (rc);
}

/* The state in fd, mapped (not copied); its size in *size. */
static void *
handoff_map(int fd, size_t *size, char *why, size_t len)
{
	struct stat	 sb;
	void		*map;

	if (fstat(fd, &sb) == -1 || sb.st_size <= 0 ||
	    sb.st_size > HANDOFF_MAX_SIZE) {
		snprintf(why, len, "state file unreadable, empty or too large");
		return (NULL);
	}
	map = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(why, len, "state file: %s", strerror(errno));
		return (NULL);
	}
	*size = sb.st_size;
	return (map);
}

/* A memfd for the state, mapped for writing into w. */
static int
h2w_open(struct h2w *w, char *why, size_t len)
{
	memset(w, 0, sizeof *w);
	w->fd = memfd_create("procd-handoff", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (w->fd == -1) {
		snprintf(why, len, "memfd_create: %s", strerror(errno));
		return (-1);
	}
	w->size = H2W_FIRST_SIZE;
	if (ftruncate(w->fd, w->size) == -1 || (w->buf = mmap(NULL, w->size,
	    PROT_READ | PROT_WRITE, MAP_SHARED, w->fd, 0)) == MAP_FAILED) {
		snprintf(why, len, "the state's memfd: %s", strerror(errno));
		close(w->fd);
		return (-1);
	}
	return (0);
}

/*
 * The memfd cut to the state's length and sealed, so that it is read as
 * written (best effort: a kernel without seals still gets the state).
 */
static int
h2w_close(struct h2w *w, char *why, size_t len)
{
	munmap(w->buf, w->size);
	w->buf = NULL;
	if (ftruncate(w->fd, w->len) == -1) {
		snprintf(why, len, "the state's memfd: %s", strerror(errno));
		return (-1);
	}
	fcntl(w->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
	    F_SEAL_SEAL);
	return (0);
}

/*
 * Writes the state (format 2) to a new memfd. Returns it (at offset 0)
 * and the fds it names, which the caller keeps open across execve; -1
 * with why set on error. What this image writes, it first checks as the
 * next image will: a state no image would take must not cost the jobs
 * (the previous image, given it back, would refuse it too).
 */
int
handoff_save(int **fds, size_t *nfds, char *why, size_t len)
{
	struct h2w	w;
	struct h2_state	st;

	if (h2w_open(&w, why, len) == -1)
		return (-1);
	h2w_state(&w);
	if (w.why[0] != '\0') {
		snprintf(why, len, "writing the state: %s", w.why);
		goto fail;
	}
	/* Its fds and children are this image's own: the check of the
	 * state is what a mismatch of writer and reader would fail. */
	if (h2_check(w.buf, w.len, 0, &st, why, len) == -1)
		goto fail;
	h2_state_free(&st);
	if (h2w_close(&w, why, len) == -1)
		goto fail;
	*fds = w.fds;
	*nfds = w.nfds;
	return (w.fd);
fail:
	if (w.buf != NULL)
		munmap(w.buf, w.size);
	close(w.fd);
	free(w.fds);
	return (-1);
}

/* Format 1: parsed, checked, taken; the parse's heap given back after. */
static int
handoff_load_json(const void *buf, size_t size, struct handoff_loaded *hl,
    char *why, size_t len)
{
	json_t	*doc;

	if ((doc = handoff_parse(buf, size, why, len)) == NULL)
		return (-1);
	if (handoff_check_doc(doc, 1, why, len) == -1) {
		json_decref(doc);
		return (-1);
	}
	ha_document(doc, hl);
	json_decref(doc);
	/* Some 140 MB at 10,000 jobs: give the pages back. */
	malloc_trim(0);
	return (0);
}

/*
 * Reads, checks and takes over the state in fd (rewound first, so the
 * previous image can read it again). Returns 0, or -1 with why set and
 * nothing taken.
 */
int
handoff_load(int fd, struct handoff_loaded *hl, char *why, size_t len)
{
	struct h2_state	 st;
	void		*map;
	size_t		 size;
	int		 rc = -1;

	if (lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(why, len, "state file: %s", strerror(errno));
		return (-1);
	}
	if ((map = handoff_map(fd, &size, why, len)) == NULL)
		return (-1);
	TAILQ_INIT(&hl->reexecs);
	switch (handoff_format(map, size, why, len)) {
	case 2:
		if (h2_check(map, size, hl->own ? H2_LIVE : H2_LIVE | H2_TEXT,
		    &st, why, len) == -1)
			break;
		h2a_state(&st, hl);
		h2_state_free(&st);
		rc = 0;
		break;
	case 1:
		rc = handoff_load_json(map, size, hl, why, len);
		break;
	}
	munmap(map, size);
	return (rc);
}

/* Checks a state file without taking it (procd --handoff-check). */
int
handoff_check_file(const char *path, const char **format, char *why,
    size_t len)
{
	void	*map;
	size_t	 size;
	int	 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return (-1);
	}
	map = handoff_map(fd, &size, why, len);
	close(fd);
	if (map == NULL)
		return (-1);
	rc = handoff_check_any(map, size, format, why, len);
	munmap(map, size);
	return (rc);
}

/* The same for bytes in memory (the fuzz target). */
int
handoff_check_buffer(const char *buf, size_t size, char *why, size_t len)
{
	const char	*format;

	return (handoff_check_any(buf, size, &format, why, len));
}

/*
 * After the takeover and the first reap: a tree whose cgroup emptied
 * during the switch sent its notice to the previous image's watch.
 */
void
handoff_settle(void)
{
	struct job	*job, *next;

	TAILQ_FOREACH_SAFE(job, &jobs, entry, next) {
		if (job->tree && job->cg_waiting && cgroup_populated(job) == 0)
			job_tree_empty(job);
	}
}
