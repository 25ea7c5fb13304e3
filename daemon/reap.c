/* SPDX-License-Identifier: ISC */
/*
 * Reaping. procd is a child subreaper, so orphaned grandchildren are its
 * children too; SIGCHLD deliveries merge, so each one reaps until nothing
 * is left. This is the only place that waits, so a pid procd still holds
 * is never one that was reused.
 */

#include "config.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>

#include "procd.h"

static struct event	*reap_event;

static void
reap_all(int sig, short events, void *arg)
{
	struct rusage	 ru;
	struct job	*job;
	pid_t		 pid;
	int		 status;

	for (;;) {
		pid = wait4(-1, &status, WNOHANG, &ru);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		if ((job = job_find_pid(pid)) != NULL)
			job_reaped(job, status, &ru);
		else {
			log_debug("reaped orphan pid %ld", (long)pid);
			procd_check_done();
		}
	}
}

void
reap_init(void)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("PR_SET_CHILD_SUBREAPER");
	reap_event = evsignal_new(procd_base, SIGCHLD, reap_all, NULL);
	if (reap_event == NULL || evsignal_add(reap_event, NULL) == -1)
		fatalx("cannot watch SIGCHLD");
	/* Children that exited before the handler was in place. */
	reap_all(SIGCHLD, 0, NULL);
}

void
reap_free(void)
{
	event_free(reap_event);
}
