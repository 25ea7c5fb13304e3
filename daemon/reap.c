/* SPDX-License-Identifier: ISC */
/*
 * Reaping. procd is a child subreaper, so orphaned grandchildren are its
 * children too; SIGCHLD deliveries merge, so each one reaps until nothing
 * is left. This is the only place that waits, so a pid procd still holds
 * is never one that was reused. A thousand exits at once are reaped a
 * turn (REAP_TURN_SEC) at a time, with every client polled in between.
 *
 * SIGCHLD stays blocked and is read from a signalfd in the loop: an exit
 * wakes procd once, with no handler to run and no byte to pass through
 * libevent's signal socketpair, which is most of what a join's answer
 * costs beyond the wait itself.
 */

#include "config.h"

#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "procd.h"

#define REAP_TURN_SEC	0.001

static struct event	*reap_event;
static struct event	*reap_more;	/* the next turn */
static int		 reap_fd = -1;	/* the signalfd of SIGCHLD */

static void
reap_all(int sig, short events, void *arg)
{
	struct timeval	 next = { 0, 0 };
	struct timespec	 t0;
	struct rusage	 ru;
	struct job	*job;
	pid_t		 pid;
	int		 status;

	/* Every worker's pid known first, or its exit looks an orphan's. */
	if (spawn_pending() > 0)
		spawn_defer_flush();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (time_since(CLOCK_MONOTONIC, &t0) >= REAP_TURN_SEC) {
			evtimer_add(reap_more, &next);
			return;
		}
		pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if ((job = job_find_pid(pid)) != NULL)
			job_reaped(job, status, &ru);
		else if (!reexec_reaped(pid, status)) {
			log_debug("reaped orphan pid %ld", (long)pid);
			procd_check_done();
		}
	}
}

/* SIGCHLD came: what the signalfd holds is read, then all is reaped. */
static void
reap_signalled(int fd, short events, void *arg)
{
	struct signalfd_siginfo	si[16];

	while (read(fd, si, sizeof si) > 0)
		;
	reap_all(SIGCHLD, events, arg);
}

void
reap_init(void)
{
	sigset_t	chld;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	/* Blocked before the signalfd: none can slip by between them. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	if ((reap_fd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	reap_event = event_new(procd_base, reap_fd, EV_READ | EV_PERSIST,
	    reap_signalled, NULL);
	if (reap_event == NULL || event_add(reap_event, NULL) == -1)
		fatalx("cannot watch SIGCHLD");
	if ((reap_more = evtimer_new(procd_base, reap_all, NULL)) == NULL)
		fatalx("cannot make the reap timer");
	/* Children that exited before the handler was in place. */
	reap_all(SIGCHLD, 0, NULL);
}

void
reap_free(void)
{
	event_free(reap_event);
	event_free(reap_more);
	if (reap_fd != -1)
		close(reap_fd);
	reap_fd = -1;
}
