/* SPDX-License-Identifier: ISC */
/*
 * Spawner processes: helpers that make workers while procd's loop goes
 * on with the next request, so that two or more spawns overlap on a
 * machine with more than one CPU.
 *
 * Each spawner is a process forked by procd's main thread at start-up,
 * which closes every fd of procd's but its own end of a socketpair and
 * waits there for spawn orders. It runs the same spawn child procd runs
 * itself (spawn-child.c), cloned with CLONE_PARENT: the worker is procd's
 * child, not the spawner's, so procd reaps it, and its parent-death
 * signal is tied to procd's main thread, which a reexec keeps (a thread
 * of procd's would not do: execve ends every other thread, and the
 * signal fires when the thread that made the child goes).
 *
 * An order is one datagram: a header, then the groups, then the path,
 * cwd, argv and envp as NUL-terminated strings, with the worker's stdin,
 * stdout and stderr passed as SCM_RIGHTS; larger than SPAWNER_ORDER_MAX,
 * it is not sent and procd spawns by itself. The answer is the pid, or
 * the step and errno that failed. A spawner whose parent dies is killed
 * by its own parent-death signal; one whose socket closes (procd stops,
 * or execs its next image, the socket being close-on-exec) exits.
 */

#include "config.h"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/close_range.h>

#include "procd.h"

#define SPAWNER_MAX		PROCD_SPAWNERS_MAX
#define SPAWNER_AUTO_MAX	4	/* by default, one per CPU up to this */
#define SPAWNER_ORDER_MAX	(128 * 1024)
#define SPAWNER_FD		3	/* the socket, in the spawner */

struct spawner_order {
	uint32_t	argc;
	uint32_t	envc;
	uint32_t	ngroups;
	uint32_t	change;		/* credentials: see user_creds */
	uint32_t	uid;
	uint32_t	gid;
	uint32_t	fds;		/* SPAWNER_OUT, SPAWNER_ERR */
	uint32_t	size;		/* of what follows the header */
	struct rlimit	nofile;
	pid_t		parent;
};
#define SPAWNER_OUT	0x1	/* stdout is passed, else procd's own */
#define SPAWNER_ERR	0x2

struct spawner_answer {
	pid_t	pid;
	int	step;
	int	error;
};

struct spawner {
	pid_t		 pid;
	int		 fd;		/* -1: not running */
	int		 busy;		/* an order is out */
	struct event	*ev;		/* its answers */
};


static struct spawner	spawners[SPAWNER_MAX];
static int		spawners_count;
static int		spawners_live;	/* with a socket */

/* ---- the spawner process ---------------------------------------------- */

static int
spawner_order_strings(char *p, size_t size, char **v, size_t n, char **end)
{
	size_t	i, len;

	for (i = 0; i < n; i++) {
		if ((len = strnlen(p, size)) == size)
			return (-1);
		v[i] = p;
		p += len + 1;
		size -= len + 1;
	}
	v[n] = NULL;
	*end = p;
	return (0);
}

/* Runs one order; fds are the worker's stdin, stdout, stderr. */
static void
spawner_run(struct spawner_order *o, char *data, int *fds, int nfds, int sock)
{
	struct spawner_answer	 a = { -1, SPAWN_STEP_FDS, EPROTO };
	struct user_creds	 cr;
	struct spawn_child	 sc;
	char			**argv = NULL, **envp = NULL, *p, *strings[3];
	size_t			 gsize;
	int			 want, i;

	want = 1 + !!(o->fds & SPAWNER_OUT) + !!(o->fds & SPAWNER_ERR);
	gsize = (size_t)o->ngroups * sizeof (gid_t);
	if (nfds != want || o->argc == 0 || o->argc > o->size ||
	    o->envc > o->size || gsize > o->size)
		goto answer;
	argv = calloc(o->argc + 1, sizeof *argv);
	envp = calloc(o->envc + 1, sizeof *envp);
	if (argv == NULL || envp == NULL)
		goto answer;
	p = data + gsize;
	if (spawner_order_strings(p, o->size - gsize, strings, 2, &p) == -1 ||
	    spawner_order_strings(p, data + o->size - p, argv, o->argc,
	    &p) == -1 ||
	    spawner_order_strings(p, data + o->size - p, envp, o->envc,
	    &p) == -1)
		goto answer;
	memset(&cr, 0, sizeof cr);
	cr.change = o->change;
	cr.uid = o->uid;
	cr.gid = o->gid;
	cr.groups = (gid_t *)data;
	cr.ngroups = o->ngroups;
	memset(&sc, 0, sizeof sc);
	sc.path = strings[0];
	sc.cwd = strings[1];
	sc.argv = argv;
	sc.envp = envp;
	sc.creds = &cr;
	sc.nofile = o->nofile;
	sc.cgroup_fd = -1;
	sc.stdin_fd = fds[0];
	i = 1;
	sc.stdout_fd = (o->fds & SPAWNER_OUT) ? fds[i++] : -1;
	sc.stderr_fd = (o->fds & SPAWNER_ERR) ? fds[i++] : -1;
	sc.clone_parent = 1;
	sc.parent = o->parent;
	if ((a.pid = spawn_child_run(&sc, &a.step)) == -1)
		a.error = errno;
	else
		a.error = 0;
answer:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	free(argv);
	free(envp);
	if (send(sock, &a, sizeof a, MSG_NOSIGNAL) != sizeof a)
		_exit(0);
}

static int
spawner_receive(int sock, void *buf, size_t size, int *fds, int *nfds)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(3 * sizeof (int))];
	} cbuf;
	struct cmsghdr	*cmsg;
	struct msghdr	 msg;
	struct iovec	 iov;
	ssize_t		 n;

	memset(&msg, 0, sizeof msg);
	iov.iov_base = buf;
	iov.iov_len = size;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = sizeof cbuf.buf;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return (-1);
	*nfds = 0;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL;
	    cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level != SOL_SOCKET ||
		    cmsg->cmsg_type != SCM_RIGHTS)
			continue;
		*nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof (int);
		memcpy(fds, CMSG_DATA(cmsg), *nfds * sizeof (int));
	}
	/* Cut short: answered as malformed. */
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
		return (0);
	return ((int)n);
}

static void __attribute__((noreturn))
spawner_main(int sock, pid_t parent)
{
	struct spawner_order	*o;
	sigset_t		 all;
	char			*buf;
	int			 fds[3], nfds, n, sig;

	/* Every signal blocked: only procd's end closing, or SIGKILL. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	prctl(PR_SET_NAME, "procd-spawner");
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(0);
	/* None of procd's fds: a client's or a pipe's end held here would
	 * keep it from ever seeing end of file. */
	if (sock != SPAWNER_FD && dup2(sock, SPAWNER_FD) == -1)
		_exit(0);
	if (syscall(SYS_close_range, SPAWNER_FD + 1, ~0U, 0) == -1)
		_exit(0);
	if ((buf = malloc(SPAWNER_ORDER_MAX)) == NULL)
		_exit(0);
	o = (struct spawner_order *)buf;
	for (;;) {
		n = spawner_receive(SPAWNER_FD, buf, SPAWNER_ORDER_MAX, fds,
		    &nfds);
		if (n == -1)
			_exit(0);
		if (n < (int)sizeof *o || o->size != n - sizeof *o)
			o->argc = 0;	/* malformed: refused */
		spawner_run(o, buf + sizeof *o, fds, nfds, SPAWNER_FD);
	}
}

/* ---- procd's side ----------------------------------------------------- */

static void
spawner_readable(int fd, short events, void *arg)
{
	spawn_answered((int)(intptr_t)arg);
}

static void
spawner_start(struct spawner *s, int i)
{
	int	sv[2];

	s->fd = -1;
	s->busy = 0;
	s->ev = NULL;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("spawner socketpair");
		return;
	}
	switch (s->pid = fork()) {
	case -1:
		log_warn("spawner fork");
		close(sv[0]);
		close(sv[1]);
		return;
	case 0:
		spawner_main(sv[1], procd_pid);
	}
	close(sv[1]);
	s->fd = sv[0];
	s->ev = event_new(procd_base, s->fd, EV_READ | EV_PERSIST,
	    spawner_readable, (void *)(intptr_t)i);
	if (s->ev == NULL || event_add(s->ev, NULL) == -1)
		fatalx("cannot watch a spawner");
}

/*
 * Starts count spawners (0: procd spawns every worker itself). Where
 * CLONE_PARENT is refused (valgrind), the first spawn finds out and
 * procd goes on without them.
 */
void
spawner_init(int count)
{
	long	cpus;
	int	i;

	if (count < 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		count = cpus < 2 ? 0 : cpus > SPAWNER_AUTO_MAX ?
		    SPAWNER_AUTO_MAX : (int)cpus;
	}
	if (count > SPAWNER_MAX)
		count = SPAWNER_MAX;
	for (i = 0; i < count; i++) {
		spawner_start(&spawners[spawners_count], spawners_count);
		if (spawners[spawners_count].fd != -1)
			spawners_count++;
	}
	spawners_live = spawners_count;
}

/*
 * Spawner i is no use any more: its socket closes, so it exits, and
 * procd reaps it. Its event stays until spawner_free: this may run in it.
 */
void
spawner_drop(int i)
{
	struct spawner	*s = &spawners[i];

	if (s->fd == -1)
		return;
	event_del(s->ev);
	close(s->fd);
	s->fd = -1;
	s->busy = 0;
	spawners_live--;
}

/* Closes the sockets: each spawner exits as it reads end of file. */
void
spawner_free(void)
{
	int	i;

	for (i = 0; i < spawners_count; i++) {
		spawner_drop(i);
		if (spawners[i].ev != NULL)
			event_free(spawners[i].ev);
		spawners[i].ev = NULL;
	}
	spawners_count = spawners_live = 0;
}

/* How many spawners procd can send orders to. */
int
spawner_available(void)
{
	return (spawners_live);
}

/* A spawner with no order out, or -1. */
int
spawner_idle(void)
{
	int	i;

	for (i = 0; i < spawners_count; i++) {
		if (spawners[i].fd != -1 && !spawners[i].busy)
			return (i);
	}
	return (-1);
}

static size_t
spawner_add_strings(char *p, char *const *v, uint32_t *count)
{
	size_t	len, n = 0;

	for (*count = 0; v[*count] != NULL; (*count)++) {
		len = strlen(v[*count]) + 1;
		if (p != NULL)
			memcpy(p + n, v[*count], len);
		n += len;
	}
	return (n);
}

/*
 * Sends sc to idle spawner i. Returns 0, or -1 if the order is too large
 * or the spawner is gone (procd then spawns the worker itself).
 */
int
spawner_send(int i, const struct spawn_child *sc)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(3 * sizeof (int))];
	} cbuf;
	struct spawner_order	 o;
	struct cmsghdr		*cmsg;
	struct msghdr		 msg;
	struct iovec		 iov[2];
	char			*data, *p;
	size_t			 size, gsize, len;
	int			 fds[3], nfds = 0, rc;
	uint32_t		 n;

	memset(&o, 0, sizeof o);
	if (sc->creds != NULL && sc->creds->change) {
		o.change = 1;
		o.uid = sc->creds->uid;
		o.gid = sc->creds->gid;
		o.ngroups = sc->creds->ngroups;
	}
	gsize = (size_t)o.ngroups * sizeof (gid_t);
	size = gsize + strlen(sc->path) + strlen(sc->cwd) + 2 +
	    spawner_add_strings(NULL, sc->argv, &n) +
	    spawner_add_strings(NULL, sc->envp, &n);
	if (size + sizeof o > SPAWNER_ORDER_MAX)
		return (-1);
	p = data = xmalloc(size);
	if (gsize > 0)
		memcpy(p, sc->creds->groups, gsize);
	p += gsize;
	len = strlen(sc->path) + 1;
	memcpy(p, sc->path, len);
	p += len;
	len = strlen(sc->cwd) + 1;
	memcpy(p, sc->cwd, len);
	p += len;
	p += spawner_add_strings(p, sc->argv, &o.argc);
	spawner_add_strings(p, sc->envp, &o.envc);
	o.size = size;
	o.nofile = sc->nofile;
	o.parent = procd_pid;
	fds[nfds++] = sc->stdin_fd;
	if (sc->stdout_fd != -1) {
		o.fds |= SPAWNER_OUT;
		fds[nfds++] = sc->stdout_fd;
	}
	if (sc->stderr_fd != -1) {
		o.fds |= SPAWNER_ERR;
		fds[nfds++] = sc->stderr_fd;
	}

	memset(&msg, 0, sizeof msg);
	iov[0].iov_base = &o;
	iov[0].iov_len = sizeof o;
	iov[1].iov_base = data;
	iov[1].iov_len = size;
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	memset(&cbuf, 0, sizeof cbuf);
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = CMSG_SPACE(nfds * sizeof (int));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(nfds * sizeof (int));
	memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof (int));
	do
		rc = sendmsg(spawners[i].fd, &msg, MSG_NOSIGNAL);
	while (rc == -1 && errno == EINTR);
	free(data);
	if (rc == -1) {
		/* EMSGSIZE: too large for the socket; else it is gone. */
		if (errno != EMSGSIZE) {
			log_warn("spawner pid %ld", (long)spawners[i].pid);
			spawner_drop(i);
		}
		return (-1);
	}
	spawners[i].busy = 1;
	return (0);
}


/*
 * Waits for spawner i's answer. Returns the worker's pid, or -1 with
 * errno and *step; a step of -1 means no worker was made (the clone
 * failed, or the spawner is gone), which procd tries again itself. A
 * spawner that cannot clone (valgrind refuses CLONE_PARENT) is no use.
 */
pid_t
spawner_wait(int i, int *step)
{
	struct spawner_answer	a;
	ssize_t			n;

	spawners[i].busy = 0;
	do
		n = recv(spawners[i].fd, &a, sizeof a, 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof a) {
		log_warnx("spawner pid %ld is gone", (long)spawners[i].pid);
		spawner_drop(i);
		*step = -1;
		errno = EPIPE;
		return (-1);
	}
	if (a.pid == -1) {
		*step = a.step;
		errno = a.error;
		if (a.step == -1 && a.error == EINVAL) {
			log_info("spawners cannot clone (CLONE_PARENT): "
			    "spawning in procd");
			for (i = 0; i < spawners_count; i++)
				spawner_drop(i);
			errno = EINVAL;
		}
	}
	return (a.pid);
}
