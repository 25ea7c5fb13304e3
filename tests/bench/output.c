/* SPDX-License-Identifier: ISC */
/*
 * Output throughput: a worker writes N bytes (head -c N /dev/zero), read
 * once through procd by a follower (logs with follow, base64) and once
 * through a plain pipe by procbench itself, alternating. The follower
 * counts the bytes from the length of each base64 "data" string rather
 * than decoding it, so procbench stays cheaper than procd.
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

#define OUTPUT_HEAD	"/usr/bin/head"
#define OUTPUT_READ	(64 * 1024)
#define OUTPUT_MIB	(1024.0 * 1024.0)

extern char	**environ;

/* The decoded length of the base64 "data" of a log notification. */
static long long
output_chunk_bytes(const char *line, size_t len)
{
	static const char	 key[] = "\"data\":\"";
	const char		*p, *q;
	size_t			 n, pad = 0;

	if ((p = memmem(line, len, key, sizeof key - 1)) == NULL)
		return (-1);
	p += sizeof key - 1;
	if ((q = memchr(p, '"', line + len - p)) == NULL)
		return (-1);
	if ((n = q - p) % 4 != 0)
		return (-1);
	if (n > 0 && q[-1] == '=')
		pad = q[-2] == '=' ? 2 : 1;
	return ((long long)(n / 4 * 3 - pad));
}

/*
 * Reads the follow stream up to the answer to logs; returns 0, or -1 if
 * procd closed the connection first. *bytes gets what came either way.
 */
static int
output_follow(struct conn *c, long long *bytes)
{
	const char	*line;
	size_t		 len;
	long long	 id, n;
	int		 kind;

	for (*bytes = 0;;) {
		if (conn_next_line(c, &line, &len) == -1)
			return (-1);
		id = conn_reply_id(line, len, &kind);
		if (id == -1) {
			if ((n = output_chunk_bytes(line, len)) == -1)
				bench_fatalx("output: bad log notification");
			*bytes += n;
			continue;
		}
		if (kind != CONN_RESULT)
			bench_fatalx("output: %.*s", (int)len, line);
		if (id == 2)
			return (0);
	}
}

/*
 * One run through procd: returns seconds, or -1 if procd cut the follower
 * off (then *cut gets the bytes that came). Adds procd's CPU seconds.
 */
static double
output_procd(struct server *s, int round, double *cpu, long long *cut)
{
	struct conn	*c;
	char		 name[32];
	long long	 t0, bytes;
	double		 cpu0;
	int		 rc;

	if ((c = conn_open(s->path)) == NULL)
		bench_fatalx("connect: %s", strerror(errno));
	snprintf(name, sizeof name, "out%d", round);
	cpu0 = server_cpu(s);
	t0 = stats_now();
	conn_queuef(c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"start\","
	    "\"params\":{\"argv\":[\"%s\",\"-c\",\"%lld\",\"/dev/zero\"],"
	    "\"name\":\"%s\"}}\n"
	    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logs\",\"params\":"
	    "{\"job\":\"%s\",\"follow\":true,\"encoding\":\"base64\"}}\n",
	    OUTPUT_HEAD, bench.output_bytes, name, name);
	rc = output_follow(c, &bytes);
	t0 = stats_now() - t0;
	conn_close(c);
	/* The job is closed from another connection if this one was cut. */
	json_decref(conn_call(s->conn, "join", json_pack("{s:s}", "job",
	    name)));
	*cpu += server_cpu(s) - cpu0;
	json_decref(conn_call(s->conn, "close", json_pack("{s:s}", "job",
	    name)));
	if (rc == -1) {
		*cut = bytes;
		return (-1);
	}
	if (bytes != bench.output_bytes)
		bench_fatalx("output: %lld bytes came, not %lld", bytes,
		    bench.output_bytes);
	return ((double)t0 / 1e9);
}

/* One run through a pipe procbench reads; returns seconds. */
static double
output_pipe(void)
{
	posix_spawn_file_actions_t	 fa;
	char				 count[32], *buf;
	char				*argv[] = { OUTPUT_HEAD, "-c",
	    count, "/dev/zero", NULL };
	long long			 t0, bytes = 0;
	ssize_t				 n;
	pid_t				 pid;
	int				 p[2], error, status;

	snprintf(count, sizeof count, "%lld", bench.output_bytes);
	buf = bench_xcalloc(1, OUTPUT_READ);
	t0 = stats_now();
	if (pipe(p) == -1)
		bench_fatalx("pipe: %s", strerror(errno));
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO);
	posix_spawn_file_actions_addclose(&fa, p[0]);
	posix_spawn_file_actions_addclose(&fa, p[1]);
	error = posix_spawn(&pid, OUTPUT_HEAD, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[1]);
	if (error != 0)
		bench_fatalx("%s: %s", OUTPUT_HEAD, strerror(error));
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

void
output_figures(struct server *s)
{
	struct stats	 procd = { 0 }, direct = { 0 }, cut = { 0 };
	double		 mib, cpu = 0, t;
	long long	 got = 0;
	char		 label[128];
	int		 round;

	mib = (double)bench.output_bytes / OUTPUT_MIB;
	if (access(OUTPUT_HEAD, X_OK) == -1) {
		table_note("output: %s is missing; skipped", OUTPUT_HEAD);
		return;
	}
	for (round = 1; round <= bench.rounds; round++) {
		bench_progress("output: round %d/%d", round, bench.rounds);
		stats_add(&direct, mib / output_pipe());
		if ((t = output_procd(s, round, &cpu, &got)) > 0)
			stats_add(&procd, mib / t);
		else
			stats_add(&cut, (double)got / OUTPUT_MIB);
	}
	snprintf(label, sizeof label, "output %.0f MiB via procd follower, "
	    "base64", mib);
	if (procd.n > 0)
		table_ratio(label, stats_median(&procd), "MiB/s",
		    stats_median(&direct));
	else
		table_row("output: plain pipe to procbench",
		    stats_median(&direct), "MiB/s");
	if (cut.n > 0) {
		snprintf(label, sizeof label, "output: follower cut off in %zu "
		    "of %d runs, after", cut.n, bench.rounds);
		table_row(label, stats_median(&cut), "MiB");
	}
	table_row("output: procd CPU per MiB captured",
	    cpu * 1e3 / (mib * bench.rounds), "ms/MiB");
	stats_clear(&procd);
	stats_clear(&direct);
	stats_clear(&cut);
}
