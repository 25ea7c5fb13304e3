/* SPDX-License-Identifier: ISC */
/*
 * The spawn child: the few steps between clone and execve that turn a copy
 * of procd into a worker in its starting state.
 *
 * The child is made with clone(CLONE_VM | CLONE_VFORK): it runs in procd's
 * memory, on a stack of its own, while procd waits for it to exec or exit.
 * So it may call only async-signal-safe functions and raw system calls:
 * no malloc, no stdio, no locks, nothing that touches errno-dependent
 * library state procd relies on, and it must never return into procd's
 * code. Everything it needs (path, argv, envp, fds) is made by procd
 * before the clone. A failed step writes which step and errno to a
 * close-on-exec pipe and exits 127; a successful execve closes the pipe,
 * so procd reads either a report or end of file, even where clone is
 * emulated by fork (valgrind).
 *
 * Order matters. Signal dispositions go back to default before the mask
 * is emptied (procd's handlers must never run in the child). Credentials,
 * when a later step changes them, change before the parent-death signal
 * is set, since a change of uid or gid clears it; the signal fires when
 * the thread that made the child exits, so workers are made by procd's
 * main thread only. Then a check that procd did not die in between (the
 * signal would be lost), the open file limit procd was given (it raised
 * its own), the cwd, and exec.
 */

#include "config.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <linux/close_range.h>
#include <linux/sched.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#endif

#include "procd.h"

#define SPAWN_CHILD_STACK	(256 * 1024)
#define SPAWN_CHILD_NSIG	64

/* What the child writes back when a step fails. */
struct spawn_report {
	int	step;
	int	error;
};

/* The kernel's struct sigaction, for the raw call. */
struct spawn_kernel_sigaction {
	void		(*handler)(int);
	unsigned long	 flags;
	void		(*restorer)(void);
	unsigned long	 mask;
};

static void	*spawn_child_stack;

static const char *const spawn_child_steps[] = {
	[SPAWN_STEP_SIGNALS] = "signals",
	[SPAWN_STEP_CGROUP] = "cgroup",
	[SPAWN_STEP_SETSID] = "setsid",
	[SPAWN_STEP_FDS] = "fds",
	[SPAWN_STEP_GROUPS] = "setgroups",
	[SPAWN_STEP_GID] = "setgid",
	[SPAWN_STEP_UID] = "setuid",
	[SPAWN_STEP_PDEATHSIG] = "pdeathsig",
	[SPAWN_STEP_RLIMIT] = "rlimit",
	[SPAWN_STEP_CHDIR] = "chdir",
	[SPAWN_STEP_EXEC] = "exec",
};

const char *
spawn_child_step_name(int step)
{
	if (step < 0 || step >= (int)(sizeof spawn_child_steps /
	    sizeof spawn_child_steps[0]) || spawn_child_steps[step] == NULL)
		return ("spawn");
	return (spawn_child_steps[step]);
}

static void
spawn_child_fail(const struct spawn_child *sc, int step)
{
	struct spawn_report	r;
	ssize_t			n;

	r.step = step;
	r.error = errno;
	/*
	 * If the report cannot be written, procd sees the pipe close without
	 * one, which it reports as well as it can. (A (void) cast does not
	 * quiet -Wunused-result under _FORTIFY_SOURCE; a used variable does.)
	 */
	n = write(sc->report, &r, sizeof r);
	(void)n;
	_exit(127);
}

/*
 * Every signal to its default disposition, through the raw call: glibc's
 * sigaction refuses its own signals (32 and 33), which a parent may still
 * have left ignored. SIGKILL and SIGSTOP cannot be changed.
 */
static int
spawn_child_signals(void)
{
	struct spawn_kernel_sigaction	dfl;
	int				sig;

	memset(&dfl, 0, sizeof dfl);
	dfl.handler = SIG_DFL;
	for (sig = 1; sig <= SPAWN_CHILD_NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, &dfl, NULL,
		    sizeof dfl.mask) == -1)
			return (-1);
	}
	return (0);
}

/* Marks every fd above 2 close-on-exec; the report pipe closes at exec. */
static int
spawn_child_close_fds(const struct spawn_child *sc)
{
	struct rlimit	rl;
	int		fd;

	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
		return (0);
	/* Before Linux 5.11: close all but the report pipe. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (-1);
	for (fd = 3; fd < (int)rl.rlim_cur && fd < 65536; fd++) {
		if (fd != sc->report)
			close(fd);
	}
	return (0);
}

static int
spawn_child_stdio(const struct spawn_child *sc)
{
	if (dup2(sc->stdin_fd, STDIN_FILENO) == -1)
		return (-1);
	if (sc->stdout_fd != -1 && dup2(sc->stdout_fd, STDOUT_FILENO) == -1)
		return (-1);
	if (sc->stderr_fd != -1 && dup2(sc->stderr_fd, STDERR_FILENO) == -1)
		return (-1);
	return (spawn_child_close_fds(sc));
}

/*
 * Becomes the job's owner: supplementary groups, then gid, then uid
 * (after which nothing can be taken back). Raw calls: glibc's wrappers
 * would try to change every thread of procd's, whose memory this is.
 */
static void
spawn_child_creds(const struct spawn_child *sc)
{
	const struct user_creds	*cr = sc->creds;

	if (cr == NULL || !cr->change)
		return;
	if (syscall(SYS_setgroups, cr->ngroups, cr->groups) == -1)
		spawn_child_fail(sc, SPAWN_STEP_GROUPS);
	if (syscall(SYS_setresgid, cr->gid, cr->gid, cr->gid) == -1)
		spawn_child_fail(sc, SPAWN_STEP_GID);
	if (syscall(SYS_setresuid, cr->uid, cr->uid, cr->uid) == -1)
		spawn_child_fail(sc, SPAWN_STEP_UID);
}

static int
spawn_child_main(void *arg)
{
	const struct spawn_child	*sc = arg;
	sigset_t			 none;

	if (spawn_child_signals() == -1)
		spawn_child_fail(sc, SPAWN_STEP_SIGNALS);
	/* Without clone3: into the job's cgroup before anything runs. */
	if (sc->cgroup_procs != -1 && write(sc->cgroup_procs, "0", 1) != 1)
		spawn_child_fail(sc, SPAWN_STEP_CGROUP);
	if (setsid() == -1)
		spawn_child_fail(sc, SPAWN_STEP_SETSID);
	if (spawn_child_stdio(sc) == -1)
		spawn_child_fail(sc, SPAWN_STEP_FDS);
	spawn_child_creds(sc);
	/* Set after the credentials: changing them clears it. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		spawn_child_fail(sc, SPAWN_STEP_PDEATHSIG);
	/* procd died before the signal was set: it would never come. */
	if (getppid() != sc->parent)
		_exit(127);
	/* The open file limit procd was started with, not its raised one. */
	if (sc->nofile.rlim_max != 0 && syscall(SYS_prlimit64, 0,
	    RLIMIT_NOFILE, &sc->nofile, NULL) == -1)
		spawn_child_fail(sc, SPAWN_STEP_RLIMIT);
	/* Entered as the owner, who must be able to. */
	if (chdir(sc->cwd) == -1)
		spawn_child_fail(sc, SPAWN_STEP_CHDIR);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(sc->path, sc->argv, sc->envp);
	spawn_child_fail(sc, SPAWN_STEP_EXEC);
	return (127);
}

void
spawn_child_init(void)
{
	spawn_child_stack = mmap(NULL, SPAWN_CHILD_STACK, PROT_READ |
	    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (spawn_child_stack == MAP_FAILED)
		fatal("mmap of the spawn stack");
}

void
spawn_child_free(void)
{
	if (spawn_child_stack != NULL && spawn_child_stack != MAP_FAILED)
		munmap(spawn_child_stack, SPAWN_CHILD_STACK);
	spawn_child_stack = NULL;
}

/* Reads the child's report: 0 if it exec'd, else -1 with *step, errno. */
static int
spawn_child_result(int fd, int *step)
{
	struct spawn_report	r;
	ssize_t			n;

	do
		n = read(fd, &r, sizeof r);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		return (0);
	if (n != (ssize_t)sizeof r) {
		*step = SPAWN_STEP_EXEC;
		errno = n == -1 ? errno : EIO;
		return (-1);
	}
	*step = r.step;
	errno = r.error;
	return (-1);
}

/*
 * A tree job's child, made in its cgroup from birth (Linux 5.7+). It is
 * a copy of procd, not a thread of its memory: clone3 with CLONE_VM would
 * need a stack switch no system call wrapper can make. CLONE_VFORK still
 * holds procd until it has exec'd. Returns -1 with errno ENOSYS where
 * clone3 or CLONE_INTO_CGROUP is missing.
 */
static pid_t
spawn_child_clone3(struct spawn_child *sc)
{
#if defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
	struct clone_args	args;
	long			pid;

	memset(&args, 0, sizeof args);
	args.flags = CLONE_VFORK | CLONE_INTO_CGROUP;
	args.exit_signal = SIGCHLD;
	args.cgroup = (unsigned)sc->cgroup_fd;
	pid = syscall(SYS_clone3, &args, sizeof args);
	if (pid == 0) {
		spawn_child_main(sc);
		_exit(127);
	}
	return ((pid_t)pid);
#else
	errno = ENOSYS;
	return (-1);
#endif
}

/*
 * Makes the child: clone3 into a tree job's cgroup where it can, else a
 * clone that shares procd's memory, which for a tree job first writes
 * itself into the cgroup's cgroup.procs.
 */
static pid_t
spawn_child_clone(struct spawn_child *sc)
{
	pid_t	pid;
	int	error;

	sc->cgroup_procs = -1;
	if (sc->cgroup_fd != -1 && !sc->cgroup_no_clone3) {
		pid = spawn_child_clone3(sc);
		/* Anything but "this kernel cannot" is the spawn's result. */
		if (pid != -1 || (errno != ENOSYS && errno != EINVAL &&
		    errno != E2BIG && errno != EPERM))
			return (pid);
	}
	if (sc->cgroup_fd != -1 && (sc->cgroup_procs = openat(sc->cgroup_fd,
	    "cgroup.procs", O_WRONLY | O_CLOEXEC)) == -1)
		return (-1);
	pid = clone(spawn_child_main, (char *)spawn_child_stack +
	    SPAWN_CHILD_STACK, CLONE_VM | CLONE_VFORK | SIGCHLD |
	    (sc->clone_parent ? CLONE_PARENT : 0), sc);
	error = errno;
	if (sc->cgroup_procs != -1)
		close(sc->cgroup_procs);
	errno = error;
	return (pid);
}

/*
 * Starts the child described by sc (its report field is set here).
 * Returns the worker's pid once it has exec'd, or -1 with errno and *step
 * saying what failed (-1: the clone itself); a child that failed has been
 * reaped, unless a spawner made it for procd (clone_parent).
 */
pid_t
spawn_child_run(struct spawn_child *sc, int *step)
{
	sigset_t	 all, old;
	pid_t		 pid;
	int		 rp[2], error, status;

	*step = SPAWN_STEP_EXEC;
	if (pipe2(rp, O_CLOEXEC) == -1)
		return (-1);
	sc->report = rp[1];
	sc->parent = procd_pid;
#ifdef __SANITIZE_ADDRESS__
	/* An earlier child exec'd with its frames still poisoned. */
	__asan_unpoison_memory_region(spawn_child_stack, SPAWN_CHILD_STACK);
#endif
	/* No handler of procd's may run in the child. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = spawn_child_clone(sc);
	error = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(rp[1]);
	if (pid == -1) {
		close(rp[0]);
		*step = -1;	/* no child: "spawn" */
		errno = error;
		return (-1);
	}
	if (spawn_child_result(rp[0], step) == -1) {
		error = errno;
		close(rp[0]);
		/* A spawner's child is procd's, reaped by procd. */
		while (!sc->clone_parent && waitpid(pid, &status, 0) == -1 &&
		    errno == EINTR)
			;
		errno = error;
		return (-1);
	}
	close(rp[0]);
	return (pid);
}
