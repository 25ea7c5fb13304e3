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

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define ORPHAN_GRACE_SEC	10	/* a job's default stop_timeout */
#define ORPHAN_RETRY_USEC	200000	/* to look again while any is left */

static pid_t		*orphan_termed;		/* sent SIGTERM already */
static size_t		 orphan_ntermed;
static int		 orphan_killing;	/* grace over: SIGKILL */
static struct event	*orphan_timer;
static struct event	*orphan_again;
static int		 orphan_fd = -1;	/* procd's children, kept open */

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
 * Opens the kernel's list of procd's children (procd has one thread) at
 * start, and keeps it: under fd pressure a clean stop could not open it,
 * and "could not look" must never read as "nothing left".
 */
void
orphan_init(void)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/self/task/%ld/children",
	    (long)procd_pid);
	if ((orphan_fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		log_warn("%s; a clean stop may not find what jobs leave "
		    "behind", path);
}

/* Reads the list again from its start; NULL with errno on failure. */
static char *
orphan_read_list(void)
{
	char	*buf = NULL;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	if (orphan_fd == -1 || lseek(orphan_fd, 0, SEEK_SET) == -1)
		return (NULL);
	for (;;) {
		if (cap - len < 4096) {
			cap = cap == 0 ? 4096 : cap * 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		n = read(orphan_fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			return (NULL);
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = '\0';
	return (buf);
}

/* Does procd have any child at all, zombies included? Needs no fd. */
static int
orphan_any_child(void)
{
	siginfo_t	si;

	memset(&si, 0, sizeof si);
	return (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) == 0);
}

static void
orphan_retry(int fd, short events, void *arg)
{
	procd_check_done();
}

/*
 * Signals every child of procd that is not a job's process, as the clean
 * stop has got to. Returns how many there may still be (zombies included:
 * they are about to be reaped); when the list cannot be read, or a child
 * the list did not show remains, it looks again shortly rather than
 * answer 0.
 */
size_t
orphan_stop_all(void)
{
	struct timeval	 grace = { ORPHAN_GRACE_SEC, 0 };
	struct timeval	 again = { 0, ORPHAN_RETRY_USEC };
	char		*list, *p, *end;
	long		 pid;
	size_t		 n = 0;

	if ((list = orphan_read_list()) == NULL) {
		log_warn("cannot read procd's list of children");
		n = 1;
	} else {
		for (p = list;; p = end) {
			pid = strtol(p, &end, 10);
			if (end == p)
				break;
			if (job_find_pid((pid_t)pid) != NULL)
				continue;
			orphan_signal((pid_t)pid);
			n++;
		}
		free(list);
		if (n == 0 && orphan_any_child())
			n = 1;
	}
	if (n > 0 && !orphan_killing && orphan_timer == NULL) {
		orphan_timer = evtimer_new(procd_base, orphan_grace_over, NULL);
		evtimer_add(orphan_timer, &grace);
	}
	if (n > 0) {
		if (orphan_again == NULL)
			orphan_again = evtimer_new(procd_base, orphan_retry,
			    NULL);
		evtimer_add(orphan_again, &again);
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
	if (orphan_again != NULL)
		event_free(orphan_again);
	orphan_again = NULL;
	if (orphan_fd != -1)
		close(orphan_fd);
	orphan_fd = -1;
	free(orphan_termed);
	orphan_termed = NULL;
	orphan_ntermed = 0;
}
