/* SPDX-License-Identifier: ISC */
/*
 * Scale: procd's RSS as the big procd fills up with sleepers (bytes per
 * live job), and on a fresh procd with a thousand clients each holding a
 * pending join; the big procd's CPU time and context switches while
 * nothing happens.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define SCALE_STEPS	3

static long long	 scale_rss[SCALE_STEPS];
static int		 scale_at[SCALE_STEPS];
static double		 scale_fill_rate;

/* Starts the big procd's sleepers, taking its RSS on the way. */
void
scale_fill(struct server *big)
{
	long long	t0;
	int		i;

	json_decref(conn_call(big->conn, "info", NULL));
	scale_at[1] = bench.jobs >= 10000 ? 1000 : bench.jobs / 10;
	scale_at[2] = bench.jobs;
	t0 = stats_now();
	for (i = 0; i < SCALE_STEPS; i++) {
		bench_progress("scale: starting %d sleepers", scale_at[i]);
		if (server_sleepers(big, scale_at[i]) == -1)
			bench_fatalx("cannot start %d sleepers", scale_at[i]);
		scale_rss[i] = server_rss(big);
	}
	scale_fill_rate = (double)bench.jobs / ((double)(stats_now() - t0) /
	    1e9);
}

void
scale_figures(void)
{
	char	label[160];
	int	i;

	for (i = 0; i < SCALE_STEPS; i++) {
		snprintf(label, sizeof label, "scale: procd RSS @%d jobs",
		    scale_at[i]);
		table_row(label, (double)scale_rss[i] / 1024.0, "KiB");
	}
	snprintf(label, sizeof label, "scale: memory per live job, 0->%d",
	    scale_at[2]);
	table_row(label, (double)(scale_rss[2] - scale_rss[0]) / scale_at[2],
	    "B/job");
	snprintf(label, sizeof label, "scale: memory per live job, %d->%d",
	    scale_at[1], scale_at[2]);
	table_row(label, (double)(scale_rss[2] - scale_rss[1]) /
	    (scale_at[2] - scale_at[1]), "B/job");
	table_row("scale: start rate filling it (64 in flight)",
	    scale_fill_rate, "jobs/s");
}

/*
 * Every param of version 1.1 that a job keeps (restart policy, delays and
 * limit, readiness with its timeout, environment, owner and group, log
 * limit), on a fresh procd: what a live job costs with all of them.
 */
#define SCALE_FULL_PARAMS \
	"\"restart\":\"on-failure\",\"restart_delay\":1," \
	"\"restart_max_delay\":60,\"restart_limit\":5,\"notify\":true," \
	"\"env\":{\"PROCD_BENCH\":\"1\"}," \
	"\"user\":\"root\",\"group\":\"root\",\"log_limit\":65536," \
	"\"kill_mode\":\"group\",\"daemon\":false"

void
scale_full_figures(void)
{
	struct server	*s;
	long long	 rss[SCALE_STEPS];
	char		 label[160];
	int		 i;

	s = server_start();
	s->start_extra = SCALE_FULL_PARAMS;
	json_decref(conn_call(s->conn, "info", NULL));
	for (i = 0; i < SCALE_STEPS; i++) {
		bench_progress("scale: starting %d sleepers with every 1.1 "
		    "param", scale_at[i]);
		if (server_sleepers(s, scale_at[i]) == -1)
			bench_fatalx("cannot start %d sleepers", scale_at[i]);
		rss[i] = server_rss(s);
	}
	server_stop(s);
	snprintf(label, sizeof label, "scale: memory per live job, every 1.1 "
	    "param, %d->%d", scale_at[1], scale_at[2]);
	table_row(label, (double)(rss[2] - rss[1]) / (scale_at[2] -
	    scale_at[1]), "B/job");
}

/* Waits until every connection has had the answer with id want. */
static void
scale_wait_all(struct conn **cs, int n, long long want)
{
	const char	*line;
	size_t		 len;
	int		 i, kind, left = n;

	for (i = 0; i < n; i++)
		cs[i]->inflight = 1;
	while (left > 0) {
		if (conn_poll(cs, n, 60000) == -1)
			bench_fatalx("joins: procd went away");
		for (i = 0; i < n; i++) {
			while (conn_line(cs[i], &line, &len)) {
				if (conn_reply_id(line, len, &kind) != want)
					continue;
				if (kind != CONN_RESULT)
					bench_fatalx("joins: %.*s", (int)len,
					    line);
				cs[i]->inflight = 0;
				left--;
			}
		}
	}
}

/*
 * N clients, then each with a join pending on a sleeper. A fresh procd,
 * so that memory freed by earlier figures does not hide the growth.
 */
void
scale_join_figures(void)
{
	struct server	 *big;
	struct conn	**cs;
	long long	  rss0, rss1, rss2;
	char		  label[160];
	int		  i, n = bench.clients;

	bench_progress("joins: %d clients", n);
	big = server_start();
	if (server_sleepers(big, 1) == -1)
		bench_fatalx("cannot start a sleeper");
	rss0 = server_rss(big);
	cs = bench_xcalloc(n, sizeof *cs);
	for (i = 0; i < n; i++) {
		if ((cs[i] = conn_open(big->path)) == NULL)
			bench_fatalx("connect #%d: %s", i, strerror(errno));
		conn_queuef(cs[i], "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
		    "\"status\",\"params\":{\"job\":\"s1\"}}\n");
		conn_flush(cs[i]);
	}
	scale_wait_all(cs, n, 1);
	rss1 = server_rss(big);
	for (i = 0; i < n; i++) {
		conn_queuef(cs[i], "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":"
		    "\"join\",\"params\":{\"job\":\"s1\"}}\n"
		    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":"
		    "\"status\",\"params\":{\"job\":\"s1\"}}\n");
		conn_flush(cs[i]);
	}
	scale_wait_all(cs, n, 3);
	rss2 = server_rss(big);
	for (i = 0; i < n; i++)
		conn_close(cs[i]);
	free(cs);
	server_stop(big);

	table_row("joins: procd RSS with 1 job, before", (double)rss0 / 1024.0,
	    "KiB");
	snprintf(label, sizeof label, "joins: procd RSS, %d clients each "
	    "joining", n);
	table_row(label, (double)rss2 / 1024.0, "KiB");
	table_row("joins: memory per connected client",
	    (double)(rss1 - rss0) / n, "B");
	table_row("joins: memory per pending join", (double)(rss2 - rss1) /
	    n, "B");
}

/* procd's CPU and context switches while nothing happens. */
void
scale_idle_figures(struct server *big)
{
	double		cpu0;
	long long	cs0;
	char		label[160];

	json_decref(conn_call(big->conn, "info", NULL));
	sleep(1);
	bench_progress("idle: %d s", bench.idle_sec);
	cpu0 = server_cpu(big);
	cs0 = server_ctxsw(big);
	sleep(bench.idle_sec);
	snprintf(label, sizeof label, "idle %d s @%d jobs: procd CPU time",
	    bench.idle_sec, big->nsleepers);
	table_row(label, (server_cpu(big) - cpu0) * 1e3, "ms");
	snprintf(label, sizeof label, "idle %d s @%d jobs: context switches",
	    bench.idle_sec, big->nsleepers);
	table_row(label, (double)(server_ctxsw(big) - cs0), "count");
}
