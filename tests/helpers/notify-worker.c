/* SPDX-License-Identifier: ISC */
/*
 * A worker for the readiness tests: sends each argument as one sd_notify
 * message (libsystemd), in order, then sleeps. "sleep:MS" waits, "exit:N"
 * exits with N, "fork:MSG" sends MSG from a child that left the process
 * group (setsid) and waits for it, "away:MSG" sends MSG from such a child
 * that stays alive afterwards (until the worker dies: its parent-death
 * signal is SIGKILL), so the sender is still there when procd reads it,
 * anything else is sent as it is ("\n" written as "\\n" separates lines
 * of one datagram).
 */

#include "config.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <signal.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Turns each two-character "\n" into a newline, in place. */
static char *
unescape(char *s)
{
	char	*r, *w;

	for (r = w = s; *r != '\0'; r++) {
		if (r[0] == '\\' && r[1] == 'n') {
			*w++ = '\n';
			r++;
		} else
			*w++ = *r;
	}
	*w = '\0';
	return (s);
}

static int
send_from_outside(const char *msg)
{
	pid_t	pid;
	int	status;

	if ((pid = fork()) == -1)
		return (-1);
	if (pid == 0) {
		setsid();
		_exit(sd_notify(0, msg) > 0 ? 0 : 1);
	}
	if (waitpid(pid, &status, 0) == -1)
		return (-1);
	return (WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1);
}

/*
 * Sends msg from a child in a session of its own that stays alive (paused)
 * until the worker dies; returns once the child has sent it.
 */
static int
send_from_away(const char *msg)
{
	pid_t	parent = getpid(), pid;
	int	fds[2];
	char	c = 'n';

	if (pipe(fds) == -1)
		return (-1);
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return (-1);
	}
	if (pid == 0) {
		close(fds[0]);
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 ||
		    getppid() != parent)
			_exit(1);
		setsid();
		c = sd_notify(0, msg) > 0 ? 'y' : 'n';
		if (write(fds[1], &c, 1) != 1)
			_exit(1);
		close(fds[1]);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (read(fds[0], &c, 1) != 1)
		c = 'n';
	close(fds[0]);
	return (c == 'y' ? 0 : -1);
}

int
main(int argc, char **argv)
{
	int	i, r;

	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "sleep:", 6) == 0)
			sleep_ms(atol(argv[i] + 6));
		else if (strncmp(argv[i], "exit:", 5) == 0)
			return (atoi(argv[i] + 5));
		else if (strncmp(argv[i], "fork:", 5) == 0) {
			if (send_from_outside(unescape(argv[i] + 5)) == -1)
				fprintf(stderr, "notify-worker: send failed\n");
		} else if (strncmp(argv[i], "away:", 5) == 0) {
			if (send_from_away(unescape(argv[i] + 5)) == -1)
				fprintf(stderr, "notify-worker: send failed\n");
		} else if ((r = sd_notify(0, unescape(argv[i]))) <= 0)
			fprintf(stderr, "notify-worker: sd_notify: %d\n", r);
		else
			printf("sent %s\n", argv[i]);
		fflush(stdout);
	}
	for (;;)
		pause();
}
