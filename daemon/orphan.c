/* SPDX-License-Identifier: ISC */
/*
 * Orphans: processes procd adopted as child subreaper. A job's background
 * subprocesses outlive the job when its process exits first, and one that
 * left the job's process group escapes the group's stop signal; when
 * their parent dies they become procd's children. procd reaps them as
 * they exit (reap.c). On a clean stop, once every job has finished, it
 * also stops them as terminate would (SIGTERM, SIGKILL after
 * ORPHAN_GRACE_SEC), so that nothing a job started outlives procd. They
 * are procd's own unreaped children, so no pid signalled here can have
 * been reused.
 */

#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define ORPHAN_GRACE_SEC	10	/* a job's default stop_timeout */

static pid_t		*orphan_termed;		/* sent SIGTERM already */
static size_t		 orphan_ntermed;
static int		 orphan_killing;	/* grace over: SIGKILL */
static struct event	*orphan_timer;

/* The parent and state of pid from /proc; -1 if it is gone. */
static int
orphan_stat(pid_t pid, pid_t *ppid, char *state)
{
	char	 path[64], buf[512], *p;
	FILE	*f;
	long	 pp;
	int	 ok;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (-1);
	ok = fgets(buf, sizeof buf, f) != NULL;
	fclose(f);
	/* The command name may hold anything: skip to its last ')'. */
	if (!ok || (p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %ld", state, &pp) != 2)
		return (-1);
	*ppid = (pid_t)pp;
	return (0);
}

static int
orphan_was_termed(pid_t pid)
{
	size_t	i;

	for (i = 0; i < orphan_ntermed; i++) {
		if (orphan_termed[i] == pid)
			return (1);
	}
	return (0);
}

/* Signals one orphan as the stop has got to; zombies are left to reap. */
static void
orphan_signal(pid_t pid, char state)
{
	if (state == 'Z')
		return;
	if (orphan_killing) {
		kill(pid, SIGKILL);
		return;
	}
	if (orphan_was_termed(pid))
		return;
	log_info("stopping pid %ld, left behind by a job", (long)pid);
	kill(pid, SIGTERM);
	orphan_termed = xreallocarray(orphan_termed, orphan_ntermed + 1,
	    sizeof *orphan_termed);
	orphan_termed[orphan_ntermed++] = pid;
}

static void
orphan_grace_over(int fd, short events, void *arg)
{
	orphan_killing = 1;
	procd_check_done();
}

/*
 * Signals pid if it is a child of procd but not a job's process; returns
 * 1 if it is one, 0 if not.
 */
static int
orphan_visit(pid_t pid)
{
	pid_t	ppid;
	char	state;

	if (orphan_stat(pid, &ppid, &state) == -1 || ppid != procd_pid ||
	    job_find_pid(pid) != NULL)
		return (0);
	orphan_signal(pid, state);
	return (1);
}

/*
 * Visits procd's children as /proc/self/task/TID/children lists them
 * (cheap); returns -1 if the kernel has no such file.
 */
static ssize_t
orphan_visit_children(void)
{
	struct dirent	*de;
	DIR		*d;
	FILE		*f;
	char		 path[320];
	long		 pid;
	ssize_t		 n = 0;

	if ((d = opendir("/proc/self/task")) == NULL)
		return (-1);
	while ((de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/children",
		    de->d_name);
		if ((f = fopen(path, "re")) == NULL) {
			closedir(d);
			return (-1);
		}
		while (fscanf(f, "%ld", &pid) == 1)
			n += orphan_visit((pid_t)pid);
		fclose(f);
	}
	closedir(d);
	return (n);
}

/* Visits every process, the slow way. */
static ssize_t
orphan_visit_all(void)
{
	struct dirent	*de;
	DIR		*d;
	ssize_t		 n = 0;

	if ((d = opendir("/proc")) == NULL) {
		log_warn("/proc");
		return (0);
	}
	while ((de = readdir(d)) != NULL) {
		if (isdigit((unsigned char)de->d_name[0]))
			n += orphan_visit((pid_t)strtol(de->d_name, NULL, 10));
	}
	closedir(d);
	return (n);
}

/*
 * Signals every child of procd that is not a job's process, as the clean
 * stop has got to. Returns how many there are (zombies included: they are
 * about to be reaped).
 */
size_t
orphan_stop_all(void)
{
	struct timeval	 tv = { ORPHAN_GRACE_SEC, 0 };
	ssize_t		 n;

	if ((n = orphan_visit_children()) == -1)
		n = orphan_visit_all();
	if (n > 0 && !orphan_killing && orphan_timer == NULL) {
		orphan_timer = evtimer_new(procd_base, orphan_grace_over, NULL);
		evtimer_add(orphan_timer, &tv);
	}
	return ((size_t)n);
}

/* A second stop signal: no more grace. */
void
orphan_kill_all(void)
{
	orphan_killing = 1;
}

void
orphan_free(void)
{
	if (orphan_timer != NULL)
		event_free(orphan_timer);
	orphan_timer = NULL;
	free(orphan_termed);
	orphan_termed = NULL;
	orphan_ntermed = 0;
}
