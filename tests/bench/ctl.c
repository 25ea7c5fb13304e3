/* SPDX-License-Identifier: ISC */
/*
 * Control-plane figures: status and info pipelined on one connection,
 * spread over 64 connections and one at a time, on a procd with a few jobs
 * and on one with many; status by id and by name (the lookup should not
 * grow with the job count); and list of every job. Each request's latency
 * runs from the moment it is queued to the read that brings its answer.
 * status asks about the live jobs in turn, so the lookups touch the whole
 * table.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define CTL_SMALL_JOBS	10
#define CTL_WINDOW	1000	/* in flight when pipelined */
#define CTL_CONNS	64
#define CTL_LIST_RUNS	20

struct ctl_spec {
	const char	*method;	/* "status" or "info" */
	int		 nconn;
	int		 window;	/* per connection */
	int		 byname;
	int		 n;		/* requests */
};

/* Medians over rounds of the rate and of each round's percentiles. */
struct ctl_result {
	struct stats	 rate;
	struct stats	 p50;
	struct stats	 p99;
};

static void
ctl_queue(struct conn *c, const struct ctl_spec *sp, struct server *s,
    int i)
{
	int	j = 1 + i % s->nsleepers;

	if (strcmp(sp->method, "info") == 0)
		conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
		    "\"info\"}\n", i);
	else if (sp->byname)
		conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
		    "\"status\",\"params\":{\"job\":\"s%d\"}}\n", i, j);
	else
		conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
		    "\"status\",\"params\":{\"job\":%lld}}\n", i, s->ids[j]);
}

/* Takes c's buffered answers; returns how many. */
static int
ctl_answers(struct conn *c, const long long *sent, int n, long long now,
    struct stats *lat)
{
	const char	*line;
	size_t		 len;
	long long	 id;
	int		 kind, done = 0;

	while (conn_line(c, &line, &len)) {
		id = conn_reply_id(line, len, &kind);
		if (id < 0 || id >= n || kind != CONN_RESULT)
			bench_fatalx("control: unexpected answer: %.*s",
			    (int)(len > 300 ? 300 : len), line);
		stats_add(lat, (double)(now - sent[id]) / 1e6);
		c->inflight--;
		done++;
	}
	return (done);
}

static struct conn **
ctl_connect(struct server *s, int n)
{
	struct conn	**cs;
	int		  i;

	cs = bench_xcalloc(n, sizeof *cs);
	for (i = 0; i < n; i++) {
		if ((cs[i] = conn_open(s->path)) == NULL)
			bench_fatalx("connect: %s", strerror(errno));
	}
	return (cs);
}

/* One run; adds its rate and percentiles to r. */
static void
ctl_run(struct server *s, const struct ctl_spec *sp, struct ctl_result *r)
{
	struct conn	**cs;
	struct stats	  lat = { 0 };
	long long	 *sent, t0, now;
	int		  i, next = 0, done = 0;

	cs = ctl_connect(s, sp->nconn);
	sent = bench_xcalloc(sp->n, sizeof *sent);
	t0 = stats_now();
	while (done < sp->n) {
		for (i = 0; i < sp->nconn; i++) {
			now = stats_now();
			while (cs[i]->inflight < sp->window && next < sp->n) {
				sent[next] = now;
				ctl_queue(cs[i], sp, s, next++);
				cs[i]->inflight++;
			}
			if (conn_flush(cs[i]) == -1)
				bench_fatalx("control: procd went away");
		}
		if (conn_poll(cs, sp->nconn, 60000) == -1)
			bench_fatalx("control: procd went away");
		now = stats_now();
		for (i = 0; i < sp->nconn; i++)
			done += ctl_answers(cs[i], sent, sp->n, now, &lat);
	}
	t0 = stats_now() - t0;
	stats_add(&r->rate, (double)sp->n / ((double)t0 / 1e9));
	stats_add(&r->p50, stats_pct(&lat, 50));
	stats_add(&r->p99, stats_pct(&lat, 99));
	stats_clear(&lat);
	free(sent);
	for (i = 0; i < sp->nconn; i++)
		conn_close(cs[i]);
	free(cs);
}

static void
ctl_result_clear(struct ctl_result *r)
{
	stats_clear(&r->rate);
	stats_clear(&r->p50);
	stats_clear(&r->p99);
}

/* Prints rate, p50 and p99 of r; base (may be NULL) gives the ratios. */
static void
ctl_print(const char *label, struct ctl_result *r, struct ctl_result *base)
{
	char	buf[160];

	if (base != NULL)
		table_ratio(label, stats_median(&r->rate), "req/s",
		    stats_median(&base->rate));
	else
		table_row(label, stats_median(&r->rate), "req/s");
	snprintf(buf, sizeof buf, "  p50 latency");
	if (base != NULL)
		table_ratio(buf, stats_median(&r->p50), "ms",
		    stats_median(&base->p50));
	else
		table_row(buf, stats_median(&r->p50), "ms");
	snprintf(buf, sizeof buf, "  p99 latency");
	if (base != NULL)
		table_ratio(buf, stats_median(&r->p99), "ms",
		    stats_median(&base->p99));
	else
		table_row(buf, stats_median(&r->p99), "ms");
}

/* Gives the small procd its few jobs. */
static void
ctl_small(struct server *small)
{
	if (small->nsleepers < CTL_SMALL_JOBS &&
	    server_sleepers(small, CTL_SMALL_JOBS) == -1)
		bench_fatalx("cannot start %d sleepers", CTL_SMALL_JOBS);
}

/* The three ways requests are sent: how many connections, how many in
 * flight on each, and the share of --ctl-n requests each run makes. */
static const struct ctl_mode {
	const char	*label;
	int		 nconn;
	int		 window;
	int		 div;
} ctl_modes[] = {
	{ "pipelined, 1 conn", 1, CTL_WINDOW, 1 },
	{ "64 conns x 1", CTL_CONNS, 1, 2 },
	{ "1 conn x 1", 1, 1, 10 },
};
#define CTL_NMODES	nitems(ctl_modes)

/*
 * status and info in each mode, on small and big alternately: the
 * pipelined rate, the latency under 64 concurrent clients, and the latency
 * of a lone request. Case i is method i / (2 * CTL_NMODES), mode
 * (i / 2) % CTL_NMODES, server i % 2; an odd case compares with the even
 * one before it.
 */
void
ctl_figures(struct server *small, struct server *big)
{
	const char		*methods[] = { "status", "info" };
	const struct ctl_mode	*mode;
	struct ctl_spec		 sp = { NULL, 0, 0, 0, 0 };
	struct ctl_result	 r[2 * CTL_NMODES * 2];
	struct server		*srv[2] = { small, big };
	char			 label[160];
	size_t			 i;
	int			 round;

	ctl_small(small);
	memset(r, 0, sizeof r);
	for (round = 1; round <= bench.rounds; round++) {
		bench_progress("control: round %d/%d", round, bench.rounds);
		for (i = 0; i < nitems(r); i++) {
			mode = &ctl_modes[(i / 2) % CTL_NMODES];
			sp.method = methods[i / (2 * CTL_NMODES)];
			sp.nconn = mode->nconn;
			sp.window = mode->window;
			sp.n = bench.ctl_n / mode->div;
			ctl_run(srv[i % 2], &sp, &r[i]);
		}
	}
	for (i = 0; i < nitems(r); i++) {
		snprintf(label, sizeof label, "%s %s @%d jobs",
		    methods[i / (2 * CTL_NMODES)],
		    ctl_modes[(i / 2) % CTL_NMODES].label,
		    srv[i % 2]->nsleepers);
		ctl_print(label, &r[i], i % 2 == 1 ? &r[i - 1] : NULL);
	}
	for (i = 0; i < nitems(r); i++)
		ctl_result_clear(&r[i]);
}

/*
 * status by id and by name, pipelined, at a few jobs and at many. Case i
 * is by name if i >= 2, on server i % 2.
 */
void
ctl_lookup_figures(struct server *small, struct server *big)
{
	struct ctl_spec		 sp = { "status", 1, CTL_WINDOW, 0, 0 };
	struct ctl_result	 r[4];
	struct server		*srv[2] = { small, big };
	char			 label[160];
	size_t			 i;
	int			 round;

	ctl_small(small);
	memset(r, 0, sizeof r);
	sp.n = bench.ctl_n / 2;
	for (round = 1; round <= bench.rounds; round++) {
		bench_progress("lookup: round %d/%d", round, bench.rounds);
		for (i = 0; i < nitems(r); i++) {
			sp.byname = i >= 2;
			ctl_run(srv[i % 2], &sp, &r[i]);
		}
	}
	for (i = 0; i < nitems(r); i++) {
		snprintf(label, sizeof label, "lookup: status by %s @%d jobs",
		    i >= 2 ? "name" : "id", srv[i % 2]->nsleepers);
		/* Against by id at few jobs; by name at many against by
		 * name at few. */
		if (i == 0)
			table_row(label, stats_median(&r[0].rate), "req/s");
		else
			table_ratio(label, stats_median(&r[i].rate), "req/s",
			    stats_median(&r[i == 3 ? 2 : 0].rate));
	}
	snprintf(label, sizeof label, "lookup: by name vs by id @%d jobs",
	    big->nsleepers);
	table_ratio(label, stats_median(&r[3].rate), "req/s",
	    stats_median(&r[1].rate));
	for (i = 0; i < nitems(r); i++)
		ctl_result_clear(&r[i]);
}

/* One list; returns milliseconds, and the size of the answer. */
static double
ctl_list_once(struct conn *c, int id, size_t *size)
{
	const char	*line;
	size_t		 len;
	long long	 t0;
	int		 kind;

	t0 = stats_now();
	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"list\"}\n",
	    id);
	do {
		if (conn_next_line(c, &line, &len) == -1)
			bench_fatalx("list: procd went away");
	} while (conn_reply_id(line, len, &kind) != id);
	t0 = stats_now() - t0;
	if (kind != CONN_RESULT)
		bench_fatalx("list: %.*s", (int)len, line);
	*size = len;
	return ((double)t0 / 1e6);
}

/* list of every job on big, one at a time. */
void
ctl_list_figures(struct server *big)
{
	struct stats	 ms = { 0 };
	struct conn	*c;
	json_t		*all;
	char		 label[160];
	size_t		 size = 0;
	int		 i;

	bench_progress("list: %d runs", CTL_LIST_RUNS);
	if ((c = conn_open(big->path)) == NULL)
		bench_fatalx("connect: %s", strerror(errno));
	for (i = 0; i < CTL_LIST_RUNS; i++)
		stats_add(&ms, ctl_list_once(c, i, &size));
	all = conn_call(c, "list", NULL);
	if (json_array_size(all) != (size_t)big->nsleepers)
		table_note("list: %zu jobs, not %d", json_array_size(all),
		    big->nsleepers);
	json_decref(all);
	conn_close(c);
	snprintf(label, sizeof label, "list @%d jobs, median of %d",
	    big->nsleepers, CTL_LIST_RUNS);
	table_row(label, stats_median(&ms), "ms");
	snprintf(label, sizeof label, "list @%d jobs, slowest of %d",
	    big->nsleepers, CTL_LIST_RUNS);
	table_row(label, stats_pct(&ms, 100), "ms");
	snprintf(label, sizeof label, "list @%d jobs, answer size",
	    big->nsleepers);
	table_row(label, (double)size / 1024.0, "KiB");
	stats_clear(&ms);
}
