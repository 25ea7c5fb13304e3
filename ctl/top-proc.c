/* SPDX-License-Identifier: ISC */
/*
 * procctl top's figures of a job's process, which the job object does not
 * carry: CPU time and resident memory from /proc/PID/stat and statm, read
 * here because procd runs on the same machine. Only the job's own pid is
 * read, not its descendants. Once the process has exited, the figures are
 * the job's final usage instead.
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"
#include "top.h"

/*
 * CPU% over less than this many seconds says more about the kernel's
 * clock ticks than about the process: a reading taken for a new process
 * just before the periodic one is not used as its base.
 */
#define TOP_PROC_MIN_INTERVAL	0.1

void
top_proc_init(struct top *top)
{
	long	page;

	if ((top->hz = sysconf(_SC_CLK_TCK)) <= 0)
		top->hz = 100;
	page = sysconf(_SC_PAGESIZE);
	top->page_kib = page >= 1024 ? page / 1024 : 4;
	top->local = 1;
}

static double
top_proc_now(void)
{
	struct timespec	ts;

	/* The clock /proc's start times count from, suspends included. */
	clock_gettime(CLOCK_BOOTTIME, &ts);
	return ((double)ts.tv_sec + ts.tv_nsec / 1e9);
}

/* Reads /proc/PID/name into buf; -1 when it is gone or unreadable. */
static int
top_proc_file(pid_t pid, const char *name, char *buf, size_t len)
{
	char	path[64];
	ssize_t	n;
	int	fd;

	snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	do
		n = read(fd, buf, len - 1);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return (-1);
	buf[n] = '\0';
	return (0);
}

/*
 * Reads the figures of pid, which must be a live child of ppid (procd),
 * so that a pid the kernel gave to another process is not taken for the
 * job's. -1 when it is gone, a zombie, not procd's or not readable (as
 * another user's process is under hidepid).
 */
static int
top_proc_read(const struct top *top, pid_t pid, pid_t ppid,
    struct top_sample *s)
{
	char			 buf[1024], *p, state;
	unsigned long long	 utime, stime, start, resident;
	long			 parent;

	if (top_proc_file(pid, "stat", buf, sizeof buf) == -1)
		return (-1);
	/* The command name in parentheses may hold anything, ')' too. */
	if ((p = strrchr(buf, ')')) == NULL)
		return (-1);
	if (sscanf(p + 1, " %c %ld %*s %*s %*s %*s %*s %*s %*s %*s %*s "
	    "%llu %llu %*s %*s %*s %*s %*s %*s %llu", &state, &parent, &utime,
	    &stime, &start) != 5)
		return (-1);
	if (state == 'Z' || state == 'X' || (ppid > 0 && parent != ppid))
		return (-1);
	if (top_proc_file(pid, "statm", buf, sizeof buf) == -1 ||
	    sscanf(buf, "%*s %llu", &resident) != 1)
		return (-1);
	s->pid = pid;
	s->start = start;
	s->ticks = utime + stime;
	s->at = top_proc_now();
	s->rss = (long long)resident * top->page_kib;
	return (0);
}

/* 1 if the job's process should be running: it has not exited. */
static int
top_proc_alive(const struct top *top, const json_t *job, pid_t *pid,
    pid_t *ppid)
{
	json_t	*p = json_object_get(job, PROTO_F_PID);
	json_t	*pp = json_object_get(job, PROTO_F_PPID);

	if (!top->local || !json_is_integer(p) || json_integer_value(p) <= 0 ||
	    !json_is_null(json_object_get(job, PROTO_F_EXITCODE)))
		return (0);
	*pid = (pid_t)json_integer_value(p);
	*ppid = json_is_integer(pp) ? (pid_t)json_integer_value(pp) : 0;
	return (1);
}

/* The job has no process to read, or it cannot be read. */
static void
top_proc_gone(struct top_job *tj)
{
	tj->live = 0;
	tj->cpu = -1;
	tj->base.pid = 0;
}

/*
 * Reads the job's process again (tick 1: the periodic reading), or only
 * when it is a process not read yet (tick 0: after an event). CPU% is
 * the CPU time since the base reading over the time since; for a process
 * read for the first time, its average since it started, as top(1) has it.
 */
void
top_proc_measure(struct top *top, struct top_job *tj, int tick)
{
	struct top_sample	 s, *b = &tj->base;
	pid_t			 pid, ppid;
	double			 age;

	if (!top_proc_alive(top, tj->job, &pid, &ppid)) {
		top_proc_gone(tj);
		return;
	}
	if (!tick && tj->live && tj->last.pid == pid)
		return;
	if (top_proc_read(top, pid, ppid, &s) == -1) {
		top_proc_gone(tj);
		return;
	}
	tj->live = 1;
	tj->last = s;
	if (b->pid == s.pid && b->start == s.start && s.ticks >= b->ticks) {
		if (s.at - b->at < TOP_PROC_MIN_INTERVAL)
			return;
		tj->cpu = (double)(s.ticks - b->ticks) / top->hz /
		    (s.at - b->at) * 100;
	} else {
		age = s.at - (double)s.start / top->hz;
		tj->cpu = age > 0 ? (double)s.ticks / top->hz / age * 100 : 0;
	}
	*b = s;
}

/* The periodic reading of every job shown. */
void
top_proc_measure_all(struct top *top)
{
	size_t	i;

	for (i = 0; i < top->njobs; i++) {
		if (top_jobs_shown(top, &top->jobs[i]))
			top_proc_measure(top, &top->jobs[i], 1);
	}
}

/* The usage of a process that has exited, or NULL. */
static json_t *
top_proc_usage(const struct top_job *tj)
{
	json_t	*usage = json_object_get(tj->job, PROTO_F_USAGE);

	if (!json_is_object(usage) ||
	    !json_is_integer(json_object_get(tj->job, PROTO_F_EXITCODE)))
		return (NULL);
	return (usage);
}

/* CPU seconds: so far while the process runs, then in all; -1: unknown. */
double
top_proc_cpu_time(const struct top *top, const struct top_job *tj)
{
	json_t	*usage, *user, *sys;

	if (tj->live)
		return ((double)tj->last.ticks / top->hz);
	if ((usage = top_proc_usage(tj)) == NULL)
		return (-1);
	user = json_object_get(usage, "user");
	sys = json_object_get(usage, "system");
	if (!json_is_number(user) || !json_is_number(sys))
		return (-1);
	return (json_number_value(user) + json_number_value(sys));
}

/* KiB: resident now while the process runs, then its peak; -1: unknown. */
long long
top_proc_rss(const struct top_job *tj)
{
	json_t	*usage, *maxrss;

	if (tj->live)
		return (tj->last.rss);
	if ((usage = top_proc_usage(tj)) == NULL)
		return (-1);
	maxrss = json_object_get(usage, "maxrss");
	return (json_is_integer(maxrss) ? json_integer_value(maxrss) : -1);
}
