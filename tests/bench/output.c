/* SPDX-License-Identifier: ISC */
/*
 * Output throughput. Each round runs a worker that writes N bytes on a
 * plain pipe procbench reads (the baseline), then the same worker through
 * procd, alternating:
 * - head -c N /dev/zero read by a follower (logs with follow) in base64;
 * - head -c N FILE, where FILE holds N bytes of lines of text, read by a
 *   follower in text (its baseline is that command on a pipe). Zeros would
 *   not do for text: each NUL is 6 bytes of JSON, more than a follower
 *   reads as fast as a worker writes, so procd rightly cuts it off;
 * - head -c N /dev/zero captured by procd with no follower of its data.
 *
 * The follower's stream is scanned as it arrives, without framing it into
 * lines or parsing it as JSON: procbench has to stay cheaper than procd,
 * and a line of base64 can be as long as procd's largest read. The scan
 * still decodes: every data string is checked against what the worker
 * wrote (base64 "A"s with valid padding; the text lines, JSON-escaped)
 * and the bytes it stands for are counted, so a lost, doubled or damaged
 * chunk fails the run.
 */

#include "config.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define OUTPUT_HEAD	"/usr/bin/head"
#define OUTPUT_READ	(64 * 1024)
#define OUTPUT_RECV	(1024 * 1024)
#define OUTPUT_MIB	(1024.0 * 1024.0)
#define OUTPUT_LINE_MAX	(64 * 1024)	/* a response, or a data's head */
#define OUTPUT_TIMEOUT	60000		/* ms without a byte from procd */
/* What a notification holds before its data, and after it. */
#define OUTPUT_LOG_HEAD	"{\"jsonrpc\":\"2.0\",\"method\":\"log\"," \
	"\"params\":{\"request\":2,\"job\":"
#define OUTPUT_DATA_KEY	"\"stream\":\"stdout\",\"data\":\""
#define OUTPUT_LOG_TAIL	"\"}}\n"

extern char	**environ;

static char	*output_text_path;	/* the text head reads */

/* How a run reads what procd sends. */
enum output_mode {
	OUTPUT_BASE64,
	OUTPUT_TEXT,
	OUTPUT_CAPTURE,
};

/* Where the follower's scan is in procd's stream. */
enum output_state {
	OUTPUT_IN_LINE,		/* a response, or a notification's head */
	OUTPUT_IN_DATA,		/* inside a data string */
	OUTPUT_IN_TAIL,		/* after it, up to the "\n" */
};

struct output_scan {
	int			 base64;
	enum output_state	 state;
	char			 line[OUTPUT_LINE_MAX];
	size_t			 linelen;
	size_t			 datalen;	/* characters of this data */
	int			 pad;		/* its "="s so far */
	long long		 textpos;	/* characters of all text */
	long long		 bytes;		/* decoded, over all data */
	int			 done;		/* the logs answer came */
};

/* One round's figures through procd. */
struct output_run {
	double		 seconds;	/* -1: the follower was cut off */
	double		 cpu;		/* procd's CPU seconds */
	double		 self;		/* procbench's, reading */
	long long	 bytes;		/* what came */
};

/* procbench's own CPU seconds so far. */
static double
output_self_cpu(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
}

/*
 * The line the text file repeats, with a tab and quotes so that the
 * follower's text goes through JSON escapes.
 */
#define OUTPUT_TEXT_LINE \
	"2026-01-01T00:00:00Z worker[42]:\tline of \"text\" output, ok\n"
#define OUTPUT_BLOCK	4096	/* compared at a time */

/* The data the text follower should get: one period of it, as JSON. */
struct output_text {
	char	*json;		/* the period, repeated past OUTPUT_BLOCK */
	size_t	 jlen;		/* one period's characters */
	size_t	 rlen;		/* and the bytes they stand for */
	size_t	*raw;		/* a character's byte offset in the line */
	char	*cut;		/* 1 where a data string may end */
};

static const struct output_text *
output_text(void)
{
	static struct output_text	 t;
	const char			*line = OUTPUT_TEXT_LINE;
	size_t				 i, j, n;
	char				 one[8];

	if (t.json != NULL)
		return (&t);
	t.rlen = strlen(line);
	t.json = bench_xcalloc(1, 2 * OUTPUT_BLOCK + 6 * t.rlen);
	t.raw = bench_xcalloc(6 * t.rlen + 1, sizeof *t.raw);
	t.cut = bench_xcalloc(6 * t.rlen + 1, 1);
	for (i = 0; i < t.rlen; i++) {
		n = proto_json_quote(line + i, 1, one);
		for (j = 0; j < n; j++)
			t.raw[t.jlen + j] = i;
		t.cut[t.jlen] = 1;
		memcpy(t.json + t.jlen, one, n);
		t.jlen += n;
	}
	for (i = t.jlen; i < 2 * OUTPUT_BLOCK + t.jlen; i++)
		t.json[i] = t.json[i % t.jlen];
	return (&t);
}

/* Bytes the first pos characters of the text stream stand for. */
static long long
output_text_bytes(long long pos)
{
	const struct output_text	*t = output_text();

	if (!t->cut[pos % t->jlen])
		bench_fatalx("output: text cut inside an escape");
	return (pos / t->jlen * t->rlen + t->raw[pos % t->jlen]);
}

/*
 * Writes the text head reads for the text follower: N bytes of lines, in
 * procbench's temp folder. Returns its path (malloc'd).
 */
static char *
output_text_file(void)
{
	const size_t	 linelen = sizeof OUTPUT_TEXT_LINE - 1;
	char		*path, *buf;
	long long	 left = bench.output_bytes;
	size_t		 i, n, off = 0;
	FILE		*f;

	if (asprintf(&path, "%s/text", server_dir) == -1)
		bench_fatalx("asprintf failed");
	if ((f = fopen(path, "w")) == NULL)
		bench_fatalx("%s: %s", path, strerror(errno));
	buf = bench_xcalloc(1, OUTPUT_RECV + linelen);
	for (i = 0; i < OUTPUT_RECV + linelen; i++)
		buf[i] = OUTPUT_TEXT_LINE[i % linelen];
	for (; left > 0; left -= n) {
		n = left < OUTPUT_RECV ? (size_t)left : OUTPUT_RECV;
		if (fwrite(buf + off, 1, n, f) != n)
			bench_fatalx("%s: %s", path, strerror(errno));
		off = (off + n) % linelen;
	}
	if (fclose(f) != 0)
		bench_fatalx("%s: %s", path, strerror(errno));
	free(buf);
	return (path);
}

/* Checks n base64 characters of zeros; "=" only at the end. */
static void
output_check_base64(struct output_scan *sc, const char *p, size_t n)
{
	static char	zeros[OUTPUT_BLOCK];
	size_t		k, i = 0;

	if (zeros[0] != 'A')
		memset(zeros, 'A', sizeof zeros);
	while (i < n) {
		k = n - i < sizeof zeros ? n - i : sizeof zeros;
		if (sc->pad == 0 && memcmp(p + i, zeros, k) == 0) {
			i += k;
			continue;
		}
		for (; k > 0; k--, i++) {
			if (p[i] == '=' && sc->pad < 2)
				sc->pad++;
			else if (p[i] != 'A' || sc->pad > 0)
				bench_fatalx("output: data is not base64 of "
				    "zeros: '%c'", p[i]);
		}
	}
}

/* Checks n characters of the text stream, from where the last ended. */
static void
output_check_text(struct output_scan *sc, const char *p, size_t n)
{
	const struct output_text	*t = output_text();
	size_t				 k, i = 0;

	while (i < n) {
		k = n - i < OUTPUT_BLOCK ? n - i : OUTPUT_BLOCK;
		if (memcmp(p + i, t->json + (sc->textpos + i) % t->jlen,
		    k) != 0)
			bench_fatalx("output: the text is not as written");
		i += k;
	}
}

/* A data string ended: what it decodes to. */
static void
output_data_end(struct output_scan *sc)
{
	if (sc->datalen == 0)
		bench_fatalx("output: a log notification without data");
	if (sc->base64) {
		if (sc->datalen % 4 != 0)
			bench_fatalx("output: base64 of %zu characters",
			    sc->datalen);
		sc->bytes += (long long)(sc->datalen / 4 * 3) - sc->pad;
	} else
		sc->bytes = output_text_bytes(sc->textpos);
	sc->datalen = 0;
	sc->pad = 0;
}

/* A whole line that is not a notification: a response. */
static void
output_response(struct output_scan *sc)
{
	long long	id;
	int		kind;

	id = conn_reply_id(sc->line, sc->linelen, &kind);
	if (id == -1 || kind != CONN_RESULT)
		bench_fatalx("output: %.*s", (int)sc->linelen, sc->line);
	if (id == 2)
		sc->done = 1;
}

/* Takes line bytes until a "\n" or a data string's start. */
static size_t
output_scan_line(struct output_scan *sc, const char *p, size_t n)
{
	const size_t	keylen = sizeof OUTPUT_DATA_KEY - 1;
	const size_t	headlen = sizeof OUTPUT_LOG_HEAD - 1;
	size_t		i;

	for (i = 0; i < n; i++) {
		if (sc->linelen == sizeof sc->line)
			bench_fatalx("output: a line's head is too long");
		sc->line[sc->linelen++] = p[i];
		if (p[i] == '\n') {
			output_response(sc);
			sc->linelen = 0;
			return (i + 1);
		}
		if (p[i] != '"' || sc->linelen < keylen ||
		    memcmp(sc->line + sc->linelen - keylen, OUTPUT_DATA_KEY,
		    keylen) != 0)
			continue;
		if (sc->linelen < headlen ||
		    memcmp(sc->line, OUTPUT_LOG_HEAD, headlen) != 0)
			bench_fatalx("output: not a log notification: %.*s",
			    (int)sc->linelen, sc->line);
		sc->linelen = 0;
		sc->state = OUTPUT_IN_DATA;
		return (i + 1);
	}
	return (n);
}

/*
 * Where the data string in p ends, or NULL. A quote inside text data is
 * escaped, and is where the written text has one: the string ends at a
 * quote where it has none.
 */
static const char *
output_data_quote(struct output_scan *sc, const char *p, size_t n)
{
	const struct output_text	*t;
	const char			*q = p;

	while ((q = memchr(q, '"', n - (q - p))) != NULL) {
		if (sc->base64)
			return (q);
		t = output_text();
		if (t->json[(sc->textpos + (q - p)) % t->jlen] != '"')
			return (q);
		q++;
	}
	return (NULL);
}

static size_t
output_scan_data(struct output_scan *sc, const char *p, size_t n)
{
	const char	*q;
	size_t		 k;

	q = output_data_quote(sc, p, n);
	k = q != NULL ? (size_t)(q - p) : n;
	if (sc->base64)
		output_check_base64(sc, p, k);
	else {
		output_check_text(sc, p, k);
		sc->textpos += k;
	}
	sc->datalen += k;
	if (q == NULL)
		return (n);
	output_data_end(sc);
	sc->state = OUTPUT_IN_TAIL;
	return (k);
}

static size_t
output_scan_tail(struct output_scan *sc, const char *p, size_t n)
{
	const size_t	taillen = sizeof OUTPUT_LOG_TAIL - 1;
	size_t		k;

	k = taillen - sc->linelen < n ? taillen - sc->linelen : n;
	if (memcmp(p, OUTPUT_LOG_TAIL + sc->linelen, k) != 0)
		bench_fatalx("output: a log notification ends badly");
	sc->linelen += k;
	if (sc->linelen == taillen) {
		sc->linelen = 0;
		sc->state = OUTPUT_IN_LINE;
	}
	return (k);
}

static void
output_scan(struct output_scan *sc, const char *p, size_t n)
{
	size_t	used;

	while (n > 0) {
		switch (sc->state) {
		case OUTPUT_IN_LINE:
			used = output_scan_line(sc, p, n);
			break;
		case OUTPUT_IN_DATA:
			used = output_scan_data(sc, p, n);
			break;
		default:
			used = output_scan_tail(sc, p, n);
			break;
		}
		p += used;
		n -= used;
	}
}

/*
 * Reads the follow stream up to the answer to logs; returns 0, or -1 if
 * procd closed the connection first. *bytes gets what came either way.
 */
static int
output_follow(struct conn *c, int base64, long long *bytes)
{
	static char		 buf[OUTPUT_RECV];
	struct output_scan	*sc;
	struct pollfd		 pfd;
	ssize_t			 n;
	int			 rc = 0;

	sc = bench_xcalloc(1, sizeof *sc);
	sc->base64 = base64;
	if (conn_flush(c) == -1 || c->outlen > c->outoff)
		bench_fatalx("output: cannot send the requests");
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	while (!sc->done) {
		n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n > 0) {
			output_scan(sc, buf, n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN) {
			if (poll(&pfd, 1, OUTPUT_TIMEOUT) == 0)
				bench_fatalx("output: nothing from procd for "
				    "%d s", OUTPUT_TIMEOUT / 1000);
			continue;
		}
		/* Closed, or reset: procd cut the follower off. */
		rc = -1;
		break;
	}
	*bytes = sc->bytes;
	free(sc);
	return (rc);
}

/* Waits for the answers to ids 2 and 3 (join, and the empty follow). */
static void
output_capture(struct conn *c)
{
	const char	*line;
	size_t		 len;
	long long	 id;
	int		 kind, seen = 0;

	while (seen != 3) {
		if (conn_next_line(c, &line, &len) == -1)
			bench_fatalx("output: procd closed the connection");
		id = conn_reply_id(line, len, &kind);
		if (kind != CONN_RESULT)
			bench_fatalx("output: %.*s", (int)len, line);
		if (id == 2 || id == 3)
			seen |= 1 << (id - 2);
	}
}

/* The worker of a way through procd, and of its pipe. */
static void
output_argv(enum output_mode mode, char *count, size_t len, char **argv)
{
	snprintf(count, len, "%lld", bench.output_bytes);
	argv[0] = OUTPUT_HEAD;
	argv[1] = "-c";
	argv[2] = count;
	argv[3] = mode == OUTPUT_TEXT ? output_text_path : "/dev/zero";
	argv[4] = NULL;
}

/* Queues start of the worker as name, then what the way asks for. */
static void
output_requests(struct conn *c, enum output_mode mode, const char *name)
{
	static const char *const	 how[] = {
		"\"stream\":\"stdout\",\"encoding\":\"base64\"",
		"\"stream\":\"stdout\",\"encoding\":\"text\"",
		"\"stream\":\"stderr\"",
	};
	char				 count[32], *argv[5];
	int				 i;

	output_argv(mode, count, sizeof count, argv);
	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"start\","
	    "\"params\":{\"name\":\"%s\",\"argv\":[", name);
	for (i = 0; argv[i] != NULL; i++)
		conn_queuef(c, "%s\"%s\"", i > 0 ? "," : "", argv[i]);
	conn_queuef(c, "]}}\n");
	if (mode == OUTPUT_CAPTURE)
		conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
		    "\"join\",\"params\":{\"job\":\"%s\"}}\n", name);
	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"logs\","
	    "\"params\":{\"job\":\"%s\",\"follow\":true,%s}}\n",
	    mode == OUTPUT_CAPTURE ? 3 : 2, name, how[mode]);
}

/*
 * One run through procd. For a capture, a follow of stderr (which head
 * leaves empty) says when procd has read the pipes to their end; the
 * stdout it captured goes to nobody.
 */
static void
output_procd(struct server *s, enum output_mode mode, int round,
    struct output_run *run)
{
	struct conn	*c;
	char		 name[32];
	long long	 t0;
	double		 cpu0, self0;
	int		 rc = 0;

	if ((c = conn_open(s->path)) == NULL)
		bench_fatalx("connect: %s", strerror(errno));
	snprintf(name, sizeof name, "out%d-%d", round, mode);
	cpu0 = server_cpu(s);
	self0 = output_self_cpu();
	t0 = stats_now();
	output_requests(c, mode, name);
	if (mode == OUTPUT_CAPTURE) {
		output_capture(c);
		run->bytes = bench.output_bytes;
	} else
		rc = output_follow(c, mode == OUTPUT_BASE64, &run->bytes);
	t0 = stats_now() - t0;
	run->self = output_self_cpu() - self0;
	conn_close(c);
	/* The job is closed from another connection if this one was cut. */
	json_decref(conn_call(s->conn, "join", json_pack("{s:s}", "job",
	    name)));
	run->cpu = server_cpu(s) - cpu0;
	json_decref(conn_call(s->conn, "close", json_pack("{s:s}", "job",
	    name)));
	run->seconds = rc == -1 ? -1 : (double)t0 / 1e9;
	if (rc == 0 && run->bytes != bench.output_bytes)
		bench_fatalx("output: %lld bytes came, not %lld", run->bytes,
		    bench.output_bytes);
}

/* One run of the way's worker on a pipe procbench reads; returns seconds. */
static double
output_pipe(enum output_mode mode)
{
	posix_spawn_file_actions_t	 fa;
	char				 count[32], *argv[5], *buf;
	long long			 t0, bytes = 0;
	ssize_t				 n;
	pid_t				 pid;
	int				 p[2], error, status;

	output_argv(mode, count, sizeof count, argv);
	buf = bench_xcalloc(1, OUTPUT_READ);
	t0 = stats_now();
	if (pipe(p) == -1)
		bench_fatalx("pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	error = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (error != 0)
		bench_fatalx("%s: %s", argv[0], strerror(error));
	while ((n = read(p[0], buf, OUTPUT_READ)) > 0 ||
	    (n == -1 && errno == EINTR))
		bytes += n > 0 ? n : 0;
	close(p[0]);
	waitpid(pid, &status, 0);
	t0 = stats_now() - t0;
	free(buf);
	if (bytes != bench.output_bytes)
		bench_fatalx("output: the pipe gave %lld bytes", bytes);
	return ((double)t0 / 1e9);
}

/* The samples of one way through procd. */
struct output_way {
	const char	*label;		/* of its rate */
	const char	*name;		/* of its other rows */
	struct stats	 rate;		/* MiB/s */
	struct stats	 ratio;		/* to the same round's pipe */
	struct stats	 cpu;		/* procd ms per MiB */
	struct stats	 self;		/* procbench's, reading */
	struct stats	 cut;		/* MiB that came before a cut */
};

static void
output_way_add(struct output_way *w, const struct output_run *run,
    double mib, double pipe)
{
	if (run->seconds > 0) {
		stats_add(&w->rate, mib / run->seconds);
		stats_add(&w->ratio, mib / run->seconds / pipe);
	} else
		stats_add(&w->cut, (double)run->bytes / OUTPUT_MIB);
	stats_add(&w->cpu, run->cpu * 1e3 / mib);
	stats_add(&w->self, run->self * 1e3 / mib);
}

/* Its rows, and a note of the spread: each round against its pipe. */
static void
output_way_print(struct output_way *w, double mib, double pipe)
{
	char	label[128];

	snprintf(label, sizeof label, "output %.0f MiB %s", mib, w->label);
	if (w->rate.n > 0)
		table_ratio(label, stats_median(&w->rate), "MiB/s", pipe);
	if (w->cut.n > 0) {
		snprintf(label, sizeof label, "output %s: cut off in %zu "
		    "of %d", w->name, w->cut.n, bench.rounds);
		table_row(label, stats_median(&w->cut), "MiB");
	}
	snprintf(label, sizeof label, "output %s: procd CPU per MiB",
	    w->name);
	table_row(label, stats_median(&w->cpu), "ms/MiB");
	if (w->ratio.n > 0)
		table_note("output %s: ratio to the round's pipe %.2f-%.2f, "
		    "CPU %.2f-%.2f ms/MiB; procbench reading %.2f ms/MiB",
		    w->name, stats_pct(&w->ratio, 0),
		    stats_pct(&w->ratio, 100), stats_pct(&w->cpu, 0),
		    stats_pct(&w->cpu, 100), stats_median(&w->self));
	stats_clear(&w->rate);
	stats_clear(&w->self);
	stats_clear(&w->ratio);
	stats_clear(&w->cpu);
	stats_clear(&w->cut);
}

void
output_figures(struct server *s)
{
	struct output_way	 ways[] = {
		{ .label = "via procd follower, base64",
		    .name = "base64 follower" },
		{ .label = "of text via procd follower, text",
		    .name = "text follower" },
		{ .label = "captured, no follower",
		    .name = "capture only" },
	};
	struct stats		 direct = { 0 }, text = { 0 };
	struct output_run	 run;
	double			 mib, pipe, textpipe;
	char			 label[64];
	int			 round, mode;

	mib = (double)bench.output_bytes / OUTPUT_MIB;
	if (access(OUTPUT_HEAD, X_OK) == -1) {
		table_note("output: %s is missing; skipped", OUTPUT_HEAD);
		return;
	}
	output_text_path = output_text_file();
	for (round = 1; round <= bench.rounds; round++) {
		bench_progress("output: round %d/%d", round, bench.rounds);
		pipe = mib / output_pipe(OUTPUT_BASE64);
		stats_add(&direct, pipe);
		textpipe = mib / output_pipe(OUTPUT_TEXT);
		stats_add(&text, textpipe);
		for (mode = OUTPUT_BASE64; mode <= OUTPUT_CAPTURE; mode++) {
			output_procd(s, mode, round, &run);
			output_way_add(&ways[mode], &run, mib,
			    mode == OUTPUT_TEXT ? textpipe : pipe);
		}
	}
	unlink(output_text_path);
	free(output_text_path);
	output_text_path = NULL;
	snprintf(label, sizeof label, "output %.0f MiB on a plain pipe", mib);
	table_row(label, stats_median(&direct), "MiB/s");
	snprintf(label, sizeof label, "output %.0f MiB of text on a plain pipe",
	    mib);
	table_row(label, stats_median(&text), "MiB/s");
	table_note("output: plain pipe %.0f-%.0f MiB/s over the rounds, of "
	    "text %.0f-%.0f", stats_pct(&direct, 0), stats_pct(&direct, 100),
	    stats_pct(&text, 0), stats_pct(&text, 100));
	for (mode = OUTPUT_BASE64; mode <= OUTPUT_CAPTURE; mode++)
		output_way_print(&ways[mode], mib, stats_median(
		    mode == OUTPUT_TEXT ? &text : &direct));
	stats_clear(&direct);
	stats_clear(&text);
}
