/* SPDX-License-Identifier: ISC */
/*
 * spawnbase: the single-threaded spawn limit procbench compares procd
 * with. It runs a program N times with posix_spawn, keeping W children in
 * flight and reaping with a blocking waitpid, and sets each child up as
 * procd sets up a worker with output "null" (own session, empty signal
 * mask, default dispositions, stdio on /dev/null, no other fd, cwd /).
 * It prints "N START_NS END_NS" (CLOCK_MONOTONIC) on stdout.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern char	**environ;

static long long
spawnbase_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
}

static void
spawnbase_setup(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa)
{
	sigset_t	empty, all;

	sigemptyset(&empty);
	sigfillset(&all);
	if (posix_spawnattr_init(attr) != 0 ||
	    posix_spawn_file_actions_init(fa) != 0)
		errx(1, "posix_spawn setup failed");
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(attr, &empty);
	posix_spawnattr_setsigdefault(attr, &all);
	posix_spawn_file_actions_addchdir_np(fa, "/");
	posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	posix_spawn_file_actions_addopen(fa, STDOUT_FILENO, "/dev/null",
	    O_WRONLY, 0);
	posix_spawn_file_actions_addopen(fa, STDERR_FILENO, "/dev/null",
	    O_WRONLY, 0);
	posix_spawn_file_actions_addclosefrom_np(fa, STDERR_FILENO + 1);
}

/* Reaps one child; exits if it failed, since then the figure is void. */
static void
spawnbase_reap(void)
{
	pid_t	pid;
	int	status;

	while ((pid = waitpid(-1, &status, 0)) == -1)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		errx(1, "child %ld failed (status %#x)", (long)pid, status);
}

static void
spawnbase_usage(void)
{
	fprintf(stderr, "usage: spawnbase [-n COUNT] [-w INFLIGHT] "
	    "[PROGRAM [ARG...]]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	posix_spawnattr_t		 attr;
	posix_spawn_file_actions_t	 fa;
	char				*deflt[] = { "/bin/true", NULL };
	char				**cmd = deflt;
	long				 n = 1000, w = 1, started;
	long				 inflight = 0;
	long long			 start, end;
	pid_t				 pid;
	int				 ch, error;

	while ((ch = getopt(argc, argv, "+n:w:")) != -1) {
		switch (ch) {
		case 'n':
			n = strtol(optarg, NULL, 10);
			break;
		case 'w':
			w = strtol(optarg, NULL, 10);
			break;
		default:
			spawnbase_usage();
		}
	}
	if (n < 1 || w < 1)
		spawnbase_usage();
	if (optind < argc)
		cmd = argv + optind;
	spawnbase_setup(&attr, &fa);

	start = spawnbase_now();
	for (started = 0; started < n; started++) {
		if (inflight == w) {
			spawnbase_reap();
			inflight--;
		}
		error = posix_spawn(&pid, cmd[0], &fa, &attr, cmd, environ);
		if (error != 0) {
			errno = error;
			err(1, "posix_spawn %s", cmd[0]);
		}
		inflight++;
	}
	while (inflight-- > 0)
		spawnbase_reap();
	end = spawnbase_now();

	printf("%ld %lld %lld\n", n, start, end);
	return (0);
}
