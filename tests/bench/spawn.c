/* SPDX-License-Identifier: ISC */
/*
 * Spawn throughput: start + join + close of /bin/true through procd with W
 * jobs in flight, against spawnbase (posix_spawn + waitpid in one thread,
 * W children in flight) and against two spawnbase processes of W/2 each.
 * A job's start and its join (by name) go out together; its close goes
 * out when the join is answered, and a job counts once closed.
 */

#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* A request's id is job * SPAWN_KINDS + kind. */
#define SPAWN_START	0
#define SPAWN_JOIN	1
#define SPAWN_CLOSE	2
#define SPAWN_KINDS	4

extern char	**environ;

struct spawn_run {
	const char	*label;
	int		 w;		/* jobs in flight */
	int		 nconn;		/* spread on this many */
	int		 capture;	/* output "capture", not "null" */
	struct stats	 rate;
};

static int	spawn_serial;

static void
spawn_queue_job(struct conn *c, int job, const struct spawn_run *r)
{
	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"start\","
	    "\"params\":{\"argv\":[\"/bin/true\"],\"name\":\"b%d-%d\","
	    "\"output\":\"%s\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"join\","
	    "\"params\":{\"job\":\"b%d-%d\"}}\n",
	    job * SPAWN_KINDS + SPAWN_START, spawn_serial, job,
	    r->capture ? "capture" : "null",
	    job * SPAWN_KINDS + SPAWN_JOIN, spawn_serial, job);
}

static void
spawn_queue_close(struct conn *c, int job)
{
	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"close\","
	    "\"params\":{\"job\":\"b%d-%d\"}}\n",
	    job * SPAWN_KINDS + SPAWN_CLOSE, spawn_serial, job);
}

/* Handles the answers c has buffered; returns how many jobs closed. */
static int
spawn_answers(struct conn *c)
{
	const char	*line;
	size_t		 len;
	long long	 id;
	int		 kind, closed = 0;

	while (conn_line(c, &line, &len)) {
		id = conn_reply_id(line, len, &kind);
		if (id < 0 || kind != CONN_RESULT)
			bench_fatalx("spawn: unexpected answer: %.*s",
			    (int)(len > 300 ? 300 : len), line);
		switch (id % SPAWN_KINDS) {
		case SPAWN_JOIN:
			c->inflight--;
			spawn_queue_close(c, (int)(id / SPAWN_KINDS));
			break;
		case SPAWN_CLOSE:
			closed++;
			break;
		}
	}
	return (closed);
}

/* One run through procd; returns jobs per second. */
static double
spawn_procd(struct server *s, const struct spawn_run *r)
{
	struct conn	**cs;
	long long	  t0;
	int		  i, n = bench.spawn_n, next = 0, closed = 0, per;

	spawn_serial++;
	cs = bench_xcalloc(r->nconn, sizeof *cs);
	for (i = 0; i < r->nconn; i++) {
		if ((cs[i] = conn_open(s->path)) == NULL)
			bench_fatalx("connect: %s", strerror(errno));
	}
	per = r->w / r->nconn;
	t0 = stats_now();
	while (closed < n) {
		for (i = 0; i < r->nconn; i++) {
			while (cs[i]->inflight < per && next < n) {
				spawn_queue_job(cs[i], next++, r);
				cs[i]->inflight++;
			}
			if (conn_flush(cs[i]) == -1)
				bench_fatalx("spawn: procd went away");
		}
		if (conn_poll(cs, r->nconn, 60000) == -1)
			bench_fatalx("spawn: procd went away");
		for (i = 0; i < r->nconn; i++)
			closed += spawn_answers(cs[i]);
	}
	t0 = stats_now() - t0;
	for (i = 0; i < r->nconn; i++)
		conn_close(cs[i]);
	free(cs);
	return ((double)n / ((double)t0 / 1e9));
}

/* Starts spawnbase -n n -w w with its stdout on a pipe; returns the pipe. */
static int
spawn_base_start(int n, int w, pid_t *pid)
{
	posix_spawn_file_actions_t	 fa;
	char				 ns[32], ws[32];
	char				*argv[] = { "spawnbase", "-n", ns,
	    "-w", ws, "/bin/true", NULL };
	int				 p[2], error;

	snprintf(ns, sizeof ns, "%d", n);
	snprintf(ws, sizeof ws, "%d", w);
	if (pipe(p) == -1)
		bench_fatalx("pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	error = posix_spawn(pid, bench.spawnbase, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (error != 0)
		bench_fatalx("%s: %s", bench.spawnbase, strerror(error));
	return (p[0]);
}

/* Reads "N START END" from a finished spawnbase. */
static void
spawn_base_finish(int fd, pid_t pid, long long *n, long long *start,
    long long *end)
{
	char	buf[128];
	ssize_t	len;
	int	status;

	len = read(fd, buf, sizeof buf - 1);
	close(fd);
	waitpid(pid, &status, 0);
	buf[len > 0 ? len : 0] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    sscanf(buf, "%lld %lld %lld", n, start, end) != 3)
		bench_fatalx("spawnbase failed (status %#x)", status);
}

/* nproc baseline spawners sharing n jobs and w in flight; jobs/s. */
static double
spawn_base(int nproc, int w)
{
	long long	 n, start, end, total = 0, first = 0, last = 0;
	pid_t		 pids[2];
	int		 fds[2], i;

	for (i = 0; i < nproc; i++)
		fds[i] = spawn_base_start(bench.spawn_n / nproc, w / nproc,
		    &pids[i]);
	for (i = 0; i < nproc; i++) {
		spawn_base_finish(fds[i], pids[i], &n, &start, &end);
		total += n;
		if (i == 0 || start < first)
			first = start;
		if (i == 0 || end > last)
			last = end;
	}
	return ((double)total / ((double)(last - first) / 1e9));
}

void
spawn_figures(struct server *s)
{
	struct spawn_run	 runs[] = {
		{ "W=1, 1 connection", 1, 1, 0, { 0 } },
		{ "W=64, 1 connection", 64, 1, 0, { 0 } },
		{ "W=64, 8 connections", 64, 8, 0, { 0 } },
		{ "W=64, 1 connection, output capture", 64, 1, 1, { 0 } },
	};
	struct stats		 base1 = { 0 }, base64 = { 0 }, two = { 0 };
	char			 label[128];
	size_t			 i;
	int			 round;

	for (round = 1; round <= bench.rounds; round++) {
		bench_progress("spawn: round %d/%d", round, bench.rounds);
		stats_add(&base1, spawn_base(1, 1));
		stats_add(&runs[0].rate, spawn_procd(s, &runs[0]));
		stats_add(&base64, spawn_base(1, 64));
		stats_add(&runs[1].rate, spawn_procd(s, &runs[1]));
		stats_add(&two, spawn_base(2, 64));
		for (i = 2; i < sizeof runs / sizeof runs[0]; i++)
			stats_add(&runs[i].rate, spawn_procd(s, &runs[i]));
	}
	table_row("spawn baseline: spawnbase W=1", stats_median(&base1),
	    "jobs/s");
	table_row("spawn baseline: spawnbase W=64", stats_median(&base64),
	    "jobs/s");
	table_ratio("spawn baseline: 2 spawnbase W=32 each (vs W=64)",
	    stats_median(&two), "jobs/s", stats_median(&base64));
	for (i = 0; i < sizeof runs / sizeof runs[0]; i++) {
		snprintf(label, sizeof label, "spawn procd %s", runs[i].label);
		table_ratio(label, stats_median(&runs[i].rate), "jobs/s",
		    stats_median(runs[i].w == 1 ? &base1 : &base64));
	}
	table_ratio("spawn procd W=64 vs 2 spawners", stats_median(
	    &runs[1].rate), "jobs/s", stats_median(&two));
	for (i = 0; i < sizeof runs / sizeof runs[0]; i++)
		stats_clear(&runs[i].rate);
	stats_clear(&base1);
	stats_clear(&base64);
	stats_clear(&two);
}
