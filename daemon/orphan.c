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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "procd.h"

#define ORPHAN_GRACE_SEC	10	/* a job's default stop_timeout */

static pid_t		*orphan_termed;		/* sent SIGTERM already */
static size_t		 orphan_ntermed;
static int		 orphan_killing;	/* grace over: SIGKILL */
static struct event	*orphan_timer;

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

/*
 * Signals one orphan as the stop has got to. A zombie about to be reaped
 * takes the signal harmlessly.
 */
static void
orphan_signal(pid_t pid)
{
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
 * Signals every child of procd that is not a job's process, as the clean
 * stop has got to; the kernel lists them in /proc/self/task/PID/children
 * (procd has one thread). Returns how many there are (zombies included:
 * they are about to be reaped).
 */
size_t
orphan_stop_all(void)
{
	struct timeval	 tv = { ORPHAN_GRACE_SEC, 0 };
	char		 path[64];
	FILE		*f;
	long		 pid;
	size_t		 n = 0;

	snprintf(path, sizeof path, "/proc/self/task/%ld/children",
	    (long)procd_pid);
	if ((f = fopen(path, "re")) == NULL) {
		log_warn("%s", path);
		return (0);
	}
	while (fscanf(f, "%ld", &pid) == 1) {
		if (job_find_pid((pid_t)pid) != NULL)
			continue;
		orphan_signal((pid_t)pid);
		n++;
	}
	fclose(f);
	if (n > 0 && !orphan_killing && orphan_timer == NULL) {
		orphan_timer = evtimer_new(procd_base, orphan_grace_over, NULL);
		evtimer_add(orphan_timer, &tv);
	}
	return (n);
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
