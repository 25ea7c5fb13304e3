/* SPDX-License-Identifier: ISC */
/*
 * Reap-to-answer latency. The worker is procbench itself run as
 * "procbench --stamp FILE": it writes CLOCK_MONOTONIC to FILE and exits at
 * once. The latency is from that stamp to the arrival of the join answer
 * (procd) or the return of waitpid (the baseline: procbench as the
 * worker's own parent), so it covers the kernel's exit, SIGCHLD, procd's
 * loop, wait4, the answer and the socket. Jobs run one at a time,
 * alternating procd and baseline.
 */

#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

extern char	**environ;

/* The worker: stamp the time, exit. */
void
reap_stamp_main(const char *path)
{
	char	buf[32];
	int	fd, len;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		_exit(1);
	len = snprintf(buf, sizeof buf, "%lld\n", stats_now());
	if (write(fd, buf, len) != len)
		_exit(1);
	_exit(0);
}

static long long
reap_read_stamp(const char *path)
{
	char	buf[32];
	ssize_t	len;
	int	fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		bench_fatalx("reap: no stamp: %s", strerror(errno));
	len = read(fd, buf, sizeof buf - 1);
	close(fd);
	unlink(path);
	if (len <= 0)
		bench_fatalx("reap: empty stamp");
	buf[len] = '\0';
	return (strtoll(buf, NULL, 10));
}

/* Waits for the answer with id want; returns its arrival time. */
static long long
reap_wait_answer(struct conn *c, long long want)
{
	const char	*line;
	size_t		 len;
	long long	 id;
	int		 kind;

	for (;;) {
		if (conn_next_line(c, &line, &len) == -1)
			bench_fatalx("reap: procd went away");
		id = conn_reply_id(line, len, &kind);
		if (id >= 0 && kind != CONN_RESULT)
			bench_fatalx("reap: %.*s", (int)len, line);
		if (id == want)
			return (stats_now());
	}
}

/* One job through procd; returns stamp-to-answer nanoseconds. */
static double
reap_procd(struct conn *c, int i, const char *stamp)
{
	long long	t;

	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"start\","
	    "\"params\":{\"argv\":[\"%s\",\"--stamp\",\"%s\"],\"name\":"
	    "\"reap%d\",\"output\":\"null\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"join\","
	    "\"params\":{\"job\":\"reap%d\"}}\n",
	    3 * i, bench.self, stamp, i, 3 * i + 1, i);
	t = reap_wait_answer(c, 3 * i + 1) - reap_read_stamp(stamp);
	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"close\","
	    "\"params\":{\"job\":\"reap%d\"}}\n", 3 * i + 2, i);
	reap_wait_answer(c, 3 * i + 2);
	return ((double)t);
}

/* One worker spawned and waited for directly. */
static double
reap_direct(const char *stamp)
{
	char	*argv[] = { (char *)bench.self, "--stamp", (char *)stamp,
	    NULL };
	pid_t	 pid;
	int	 error, status;

	error = posix_spawn(&pid, bench.self, NULL, NULL, argv, environ);
	if (error != 0)
		bench_fatalx("reap: posix_spawn: %s", strerror(error));
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return ((double)(stats_now() - reap_read_stamp(stamp)));
}

void
reap_figures(struct server *s)
{
	struct stats	 procd = { 0 }, direct = { 0 };
	struct conn	*c;
	char		*stamp;
	int		 i;

	bench_progress("reap: %d jobs", bench.reap_n);
	if (asprintf(&stamp, "%s/stamp", server_dir) == -1)
		bench_fatalx("asprintf failed");
	if ((c = conn_open(s->path)) == NULL)
		bench_fatalx("connect: %s", strerror(errno));
	for (i = 0; i < bench.reap_n; i++) {
		stats_add(&procd, reap_procd(c, i, stamp) / 1e3);
		stats_add(&direct, reap_direct(stamp) / 1e3);
	}
	conn_close(c);
	free(stamp);
	table_ratio("reap-to-answer p50 (vs waitpid in parent)",
	    stats_pct(&procd, 50), "us", stats_pct(&direct, 50));
	table_ratio("reap-to-answer p99 (vs waitpid in parent)",
	    stats_pct(&procd, 99), "us", stats_pct(&direct, 99));
	stats_clear(&procd);
	stats_clear(&direct);
}
