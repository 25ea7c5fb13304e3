/* SPDX-License-Identifier: ISC */
/*
 * The private procd under test: started on a socket in procbench's temp
 * folder with high limits (and a high RLIMIT_NOFILE set before exec),
 * stopped with SIGTERM, and observed through /proc: RSS, CPU time and
 * context switches. It gets SIGTERM too if procbench dies first.
 */

#include "config.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define SERVER_NOFILE		65536
#define SERVER_START_MS		10000
#define SERVER_STOP_MS		120000
#define SERVER_FILL_WINDOW	64
#define SERVER_MAX		8
#define SERVER_ARGS		32

char			*server_dir;
static int		 server_count;
static struct server	*server_live[SERVER_MAX];

void
server_init(void)
{
	char	tmpl[] = "/tmp/procbench.XXXXXX";

	if (mkdtemp(tmpl) == NULL)
		bench_fatalx("mkdtemp: %s", strerror(errno));
	server_dir = strdup(tmpl);
}

/*
 * Stops the procds still running (after a fatal error too) and removes
 * the temp folder if nothing was left in it for a post-mortem.
 */
void
server_cleanup(void)
{
	int	i;

	for (i = 0; i < SERVER_MAX; i++) {
		if (server_live[i] != NULL)
			server_stop(server_live[i]);
	}
	if (server_dir != NULL && rmdir(server_dir) == -1)
		fprintf(stderr, "procbench: kept %s\n", server_dir);
	server_dir = NULL;
}

/* Lets procd hold ten thousand jobs and a thousand clients. */
static void
server_raise_nofile(void)
{
	struct rlimit	rl;

	rl.rlim_cur = rl.rlim_max = SERVER_NOFILE;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		return;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void __attribute__((noreturn))
server_exec(const struct server *s)
{
	int	fd;
	char	*argv[SERVER_ARGS];
	int	 i, n = 0;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	server_raise_nofile();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	if ((fd = open("/dev/null", O_RDONLY)) != -1)
		dup2(fd, STDIN_FILENO);
	if ((fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0600)) != -1) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	argv[n++] = "procd";
	argv[n++] = "--socket";
	argv[n++] = s->path;
	argv[n++] = "--max-jobs=1000000";
	argv[n++] = "--max-clients=100000";
	for (i = 0; i < bench.nprocd_args && n < SERVER_ARGS - 1; i++)
		argv[n++] = (char *)bench.procd_args[i];
	argv[n] = NULL;
	execv(bench.procd, argv);
	fprintf(stderr, "procbench: exec %s: %s\n", bench.procd,
	    strerror(errno));
	_exit(127);
}

/* Starts a procd and waits until it accepts a connection. */
struct server *
server_start(void)
{
	struct server	*s;
	long long	 deadline;
	int		 status;

	s = bench_xcalloc(1, sizeof *s);
	s->n = ++server_count;
	if (asprintf(&s->path, "%s/procd-%d.sock", server_dir, s->n) == -1 ||
	    asprintf(&s->log, "%s/procd-%d.log", server_dir, s->n) == -1)
		bench_fatalx("asprintf failed");
	fflush(NULL);
	if ((s->pid = fork()) == -1)
		bench_fatalx("fork: %s", strerror(errno));
	if (s->pid == 0)
		server_exec(s);
	server_live[(s->n - 1) % SERVER_MAX] = s;
	deadline = stats_now() + SERVER_START_MS * 1000000LL;
	while ((s->conn = conn_open(s->path)) == NULL) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid)
			bench_fatalx("procd exited at start; see %s", s->log);
		if (stats_now() > deadline)
			bench_fatalx("procd does not answer on %s", s->path);
		usleep(5000);
	}
	return (s);
}

/* Stops procd (which stops its jobs) and frees s. */
void
server_stop(struct server *s)
{
	long long	deadline;
	int		status = 0;
	pid_t		pid;

	server_live[(s->n - 1) % SERVER_MAX] = NULL;
	conn_close(s->conn);
	kill(s->pid, SIGTERM);
	deadline = stats_now() + SERVER_STOP_MS * 1000000LL;
	while ((pid = waitpid(s->pid, &status, WNOHANG)) == 0) {
		if (stats_now() > deadline) {
			fprintf(stderr, "procbench: procd does not stop; "
			    "killing it\n");
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			break;
		}
		usleep(10000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		unlink(s->log);
	else
		fprintf(stderr, "procbench: procd ended with status %#x; see "
		    "%s\n", status, s->log);
	free(s->path);
	free(s->log);
	free(s->ids);
	free(s);
}

/* Reads the number after "name:" in /proc/PID/status; -1 if absent. */
static long long
server_status_field(const struct server *s, const char *name)
{
	char		 path[64], line[256];
	FILE		*f;
	size_t		 len = strlen(name);
	long long	 v = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)s->pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, name, len) == 0 && line[len] == ':') {
			v = strtoll(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return (v);
}

/* Resident set size in bytes. */
long long
server_rss(const struct server *s)
{
	return (server_status_field(s, "VmRSS") * 1024);
}

/* Voluntary and involuntary context switches so far. */
long long
server_ctxsw(const struct server *s)
{
	return (server_status_field(s, "voluntary_ctxt_switches") +
	    server_status_field(s, "nonvoluntary_ctxt_switches"));
}

/*
 * CPU seconds used so far: utime + stime from /proc/PID/stat, or, where
 * the kernel has it, the same time to the nanosecond from schedstat.
 */
double
server_cpu(const struct server *s)
{
	char			 path[64], buf[1024], *p;
	FILE			*f;
	unsigned long long	 ns, ut, st;
	int			 n;

	snprintf(path, sizeof path, "/proc/%ld/schedstat", (long)s->pid);
	if ((f = fopen(path, "r")) != NULL) {
		n = fscanf(f, "%llu", &ns);
		fclose(f);
		if (n == 1)
			return ((double)ns / 1e9);
	}
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)s->pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	p = fgets(buf, sizeof buf, f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) != 2)
		return (-1);
	return ((double)(ut + st) / (double)sysconf(_SC_CLK_TCK));
}

static void
server_queue_sleeper(struct server *s, int i)
{
	conn_queuef(s->conn, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":"
	    "\"start\",\"params\":{\"argv\":[\"/bin/sleep\",\"100000\"],"
	    "\"name\":\"s%d\",\"output\":\"null\",\"stop_timeout\":2%s%s}}\n",
	    i, i, s->start_extra != NULL ? "," : "",
	    s->start_extra != NULL ? s->start_extra : "");
}

/* Records the job id a start answer (for sleeper i) carries. */
static void
server_sleeper_started(struct server *s, const char *line, size_t len)
{
	json_t	*msg, *id;
	int	 i;

	if ((msg = json_loadb(line, len, 0, NULL)) == NULL)
		bench_fatalx("procd sent a line that is not JSON");
	id = json_object_get(msg, "id");
	i = (int)json_integer_value(id);
	id = json_object_get(json_object_get(msg, "result"), "id");
	if (!json_is_integer(id) || i < 1 || i > s->nsleepers)
		bench_fatalx("start of a sleeper failed: %.*s", (int)len,
		    line);
	s->ids[i] = json_integer_value(id);
	json_decref(msg);
}

/*
 * Brings s to n live sleepers (/bin/sleep, output null), named s1, s2...
 * Returns 0, or -1 if procd stopped answering.
 */
int
server_sleepers(struct server *s, int n)
{
	const char	*line;
	size_t		 len;
	int		 next, done, old = s->nsleepers;

	if (n <= old)
		return (0);
	s->ids = bench_xrealloc(s->ids, (n + 1) * sizeof *s->ids);
	s->nsleepers = n;
	for (next = done = old + 1; done <= n;) {
		while (next <= n && next - done < SERVER_FILL_WINDOW)
			server_queue_sleeper(s, next++);
		if (conn_next_line(s->conn, &line, &len) == -1)
			return (-1);
		server_sleeper_started(s, line, len);
		done++;
	}
	return (0);
}
