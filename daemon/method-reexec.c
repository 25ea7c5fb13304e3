/* SPDX-License-Identifier: ISC */
/*
 * reexec: procd replaces its program image, in the same process, with the
 * program at the path it was started from, and hands every job and every
 * client over to it (handoff.c). The answer comes from the new image.
 *
 * The switch: the request is checked and parked, and what its client sent
 * after it is held for the new image. The new program is asked (beside
 * the loop, which serves everyone else meanwhile) which state formats it
 * reads. Then the loop returns to main, which runs the switch between two
 * runs of it, so no callback is half way through: signals are blocked
 * (they stay pending across execve, for the new image's handlers), the
 * state is written to a memfd, and procd executes the program with
 * --handoff. Nothing reaps in between: a worker that exits meanwhile
 * stays a zombie until the new image reaps it with its real status.
 *
 * If the new image refuses the state (it failed the check), it executes
 * the previous image again from an fd kept for that, with the same state
 * and --handoff-refused; that image answers the reexec with the reason.
 */

#include "config.h"

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define REEXEC_CHECK_MS		5000	/* for the program to name its formats */
#define REEXEC_CHECK_MAX	4096	/* bytes of that answer */

extern char	**environ;

int			 handoff_pending;
static char		*reexec_path;	/* the program, resolved at start */
static char		**reexec_args;	/* procd's options, without --handoff */
static struct event	*reexec_event;

static int		 reexec_wanted;	/* the loop returned for the switch */

static void	reexec_due(int, short, void *);
static void	reexec_carry_on(void);
static void	reexec_check_end(void);
static void	reexec_check_timeout(int, short, void *);

/*
 * The check runs beside the loop: the program is started with
 * --handoff-formats, its answer read as it comes, and its exit status
 * taken by the reaper (reexec_reaped); a program that takes longer than
 * REEXEC_CHECK_MS is killed and refused.
 */
static struct {
	pid_t		 pid;		/* -1: none running */
	int		 fd;		/* its stdout */
	struct event	*ev;
	struct event	*timer;
	char		 out[REEXEC_CHECK_MAX];
	size_t		 len;
	int		 eof;
	int		 reaped;
	int		 status;
} check = { -1, -1, NULL, NULL, "", 0, 0, 0, 0 };


/*
 * Remembers how procd was started: the program's absolute path (so that a
 * package upgrade that replaced the file runs the new one) and its
 * options, less the ones a previous reexec added.
 */
void
reexec_init(int argc, char **argv)
{
	char	buf[PATH_MAX];
	ssize_t	n;
	int	i, k = 0;

	if ((n = readlink("/proc/self/exe", buf, sizeof buf - 1)) == -1)
		log_warn("readlink /proc/self/exe");
	else {
		buf[n] = '\0';
		reexec_path = xstrdup(buf);
	}
	reexec_args = xreallocarray(NULL, argc + 1, sizeof *reexec_args);
	for (i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--handoff", 9) == 0) {
			if (strchr(argv[i], '=') == NULL && i + 1 < argc)
				i++;
			continue;
		}
		reexec_args[k++] = xstrdup(argv[i]);
	}
	reexec_args[k] = NULL;
	reexec_event = evtimer_new(procd_base, reexec_due, NULL);
	check.timer = evtimer_new(procd_base, reexec_check_timeout, NULL);
}

void
reexec_free(void)
{
	if (reexec_event != NULL)
		event_free(reexec_event);
	reexec_event = NULL;
	reexec_check_end();
	if (check.timer != NULL)
		event_free(check.timer);
	check.timer = NULL;
	if (reexec_args != NULL)
		xfree_strv(reexec_args);
	reexec_args = NULL;
	free(reexec_path);
	reexec_path = NULL;
}

static void	reexec_fail_all(struct requests *, int, const char *);
static void	reexec_collect(struct requests *);

/* Whether text, one format per line, names ours. */
static int
reexec_lists_format(const char *text)
{
	size_t		 len = strlen(HANDOFF_FORMAT);
	const char	*p = text;

	while (*p != '\0') {
		if (strncmp(p, HANDOFF_FORMAT, len) == 0 &&
		    (p[len] == '\n' || p[len] == '\0'))
			return (1);
		if ((p = strchr(p, '\n')) == NULL)
			break;
		p++;
	}
	return (0);
}

/* Every pending reexec is refused with why; procd carries on. */
static void
reexec_refuse(const char *why)
{
	struct requests	reexecs;
	char		msg[PATH_MAX + 256];

	reexec_collect(&reexecs);
	if (procd_stopping) {
		reexec_fail_all(&reexecs, PROTO_STOPPING, "procd is stopping");
	} else {
		log_warnx("reexec refused: %s", why);
		snprintf(msg, sizeof msg, "cannot reexec: %s", why);
		reexec_fail_all(&reexecs, PROTO_INTERNAL_ERROR, msg);
	}
	reexec_carry_on();
}

static void
reexec_check_end(void)
{
	if (check.ev != NULL)
		event_free(check.ev);
	check.ev = NULL;
	if (check.fd != -1)
		close(check.fd);
	check.fd = -1;
	evtimer_del(check.timer);
}

/* The answer is read and the program reaped: switch, or say why not. */
static void
reexec_check_done(void)
{
	static const struct timeval	 now = { 0, 0 };
	char				 why[PATH_MAX + 128];

	if (!check.eof || !check.reaped)
		return;
	check.pid = -1;
	check.out[check.len] = '\0';
	if (!WIFEXITED(check.status) || WEXITSTATUS(check.status) != 0)
		snprintf(why, sizeof why, "%s --handoff-formats failed "
		    "(status %d): it is not a procd that can take over",
		    reexec_path, check.status);
	else if (!reexec_lists_format(check.out))
		snprintf(why, sizeof why, "%s cannot read this procd's state "
		    "(format %s)", reexec_path, HANDOFF_FORMAT);
	else {
		handoff_pending = 1;
		evtimer_add(reexec_event, &now);
		return;
	}
	reexec_refuse(why);
}

static void
reexec_check_read(int fd, short events, void *arg)
{
	ssize_t	n;

	n = read(fd, check.out + check.len, sizeof check.out - 1 - check.len);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		check.len += n;
		if (check.len < sizeof check.out - 1)
			return;
	}
	check.eof = 1;
	reexec_check_end();
	reexec_check_done();
}

/*
 * Time is up. A program that exited while something it started still
 * holds its output is judged by what it wrote; one still running is
 * killed with its process group, and refused.
 */
static void
reexec_check_timeout(int fd, short events, void *arg)
{
	char	why[PATH_MAX + 64];

	if (check.reaped) {
		killpg(check.pid, SIGKILL);	/* what it left behind */
		check.eof = 1;
		reexec_check_end();
		reexec_check_done();
		return;
	}
	killpg(check.pid, SIGKILL);
	reexec_check_end();
	check.pid = -1;			/* reaped later, as an orphan */
	snprintf(why, sizeof why, "%s did not name its state formats within "
	    "%d ms", reexec_path, REEXEC_CHECK_MS);
	reexec_refuse(why);
}

/* Called by the reaper: 1 if pid was the check's program. */
int
reexec_reaped(pid_t pid, int status)
{
	if (check.pid == -1 || pid != check.pid)
		return (0);
	check.reaped = 1;
	check.status = status;
	reexec_check_done();
	return (1);
}

/*
 * Starts the program with --handoff-formats. Returns 0, or -1 with why
 * set if it cannot even be started.
 */
static int
reexec_check_start(char *why, size_t len)
{
	struct timeval			 tv = { REEXEC_CHECK_MS / 1000,
					    REEXEC_CHECK_MS % 1000 * 1000 };
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 sa;
	char				*argv[3];
	int				 p[2], rc;

	if (reexec_path == NULL)
		return (snprintf(why, len, "procd does not know the path it "
		    "was started from"), -1);
	if (access(reexec_path, X_OK) == -1)
		return (snprintf(why, len, "%s: %s", reexec_path,
		    strerror(errno)), -1);
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		return (snprintf(why, len, "pipe: %s", strerror(errno)), -1);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* A group of its own: what it starts is killed with it. */
	posix_spawnattr_init(&sa);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&sa, 0);
	argv[0] = reexec_path;
	argv[1] = "--handoff-formats";
	argv[2] = NULL;
	rc = posix_spawn(&check.pid, reexec_path, &fa, &sa, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(p[1]);
	if (rc != 0) {
		close(p[0]);
		check.pid = -1;
		return (snprintf(why, len, "%s: %s", reexec_path,
		    strerror(rc)), -1);
	}
	check.fd = p[0];
	check.len = 0;
	check.eof = check.reaped = 0;
	check.ev = event_new(procd_base, check.fd, EV_READ | EV_PERSIST,
	    reexec_check_read, NULL);
	event_add(check.ev, NULL);
	evtimer_add(check.timer, &tv);
	return (0);
}

static enum method_return
method_reexec_exec(struct request *req)
{
	struct client	*c = req->client;
	char		 why[PATH_MAX + 256];

	if (c->uid != 0 && c->uid != geteuid())
		return (request_error(req, PROTO_PERMISSION, "permission "
		    "denied: only root and procd's own uid may reexec"));
	if (procd_stopping)
		return (request_error(req, PROTO_STOPPING, "procd is "
		    "stopping"));
	/* Answered once the switch is done (or refused), by either image. */
	request_park(req);
	client_hold(c);
	if (handoff_pending || check.pid != -1)
		return (METHOD_WAIT);
	log_info("reexec of %s asked by uid %u pid %ld", reexec_path,
	    (unsigned)c->uid, (long)c->pid);
	if (reexec_check_start(why, sizeof why) == -1)
		reexec_refuse(why);
	return (METHOD_WAIT);
}

const struct method_entry method_reexec_entry = {
	&proto_method_reexec, 0, method_reexec_exec
};

/* The pending reexecs failed: each is answered, and procd carries on. */
static void
reexec_fail_all(struct requests *reexecs, int code, const char *msg)
{
	struct request	*req;
	struct client	*c;

	while ((req = TAILQ_FIRST(reexecs)) != NULL) {
		c = req->client;
		request_error(req, code, "%s", msg);
		if (!(c->flags & CLIENT_DEAD))
			client_flush(c);
	}
}

/* The parked reexec requests of every client, on one list. */
static void
reexec_collect(struct requests *reexecs)
{
	struct client	*c;
	struct request	*req;

	TAILQ_INIT(reexecs);
	TAILQ_FOREACH(c, &clients, entry) {
		TAILQ_FOREACH(req, &c->requests, client_entry) {
			if (req->method == &method_reexec_entry) {
				req->queue = reexecs;
				TAILQ_INSERT_TAIL(reexecs, req, job_entry);
			}
		}
	}
}

static void
reexec_cloexec(const int *fds, size_t n, int on)
{
	size_t	i;

	for (i = 0; i < n; i++)
		fcntl(fds[i], F_SETFD, on ? FD_CLOEXEC : 0);
}

/* argv for the next image: the options procd has, then the handoff. */
static char **
reexec_argv(const char *path, int state, int previous, const char *refused)
{
	char	**argv;
	size_t	  n, i, k = 0;

	for (n = 0; reexec_args[n] != NULL; n++)
		;
	argv = xreallocarray(NULL, n + 8, sizeof *argv);
	argv[k++] = xstrdup(path);
	for (i = 0; i < n; i++)
		argv[k++] = xstrdup(reexec_args[i]);
	argv[k++] = xstrdup("--handoff");
	xasprintf(&argv[k++], "%d", state);
	if (previous != -1) {
		argv[k++] = xstrdup("--handoff-previous");
		xasprintf(&argv[k++], "%d", previous);
	}
	if (refused != NULL) {
		argv[k++] = xstrdup("--handoff-refused");
		argv[k++] = xstrdup(refused);
	}
	argv[k] = NULL;
	return (argv);
}

static void
reexec_block_signals(sigset_t *old)
{
	sigset_t	all;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, old);
}

/* The check passed: the switch happens outside the loop (reexec_run). */
static void
reexec_due(int fd, short events, void *arg)
{
	reexec_wanted = 1;
	event_base_loopbreak(procd_base);
}

/* The program reexec runs: the state carries it, over a give-back too. */
const char *
reexec_program(void)
{
	return (reexec_path);
}

void
reexec_set_program(const char *path)
{
	free(reexec_path);
	reexec_path = path != NULL ? xstrdup(path) : NULL;
}

/* Whether main should run the switch now that the loop has returned. */
int
reexec_pending(void)
{
	return (reexec_wanted);
}

/* The reexec did not happen: every client goes on in this image. */
static void
reexec_carry_on(void)
{
	struct client	*c;

	handoff_pending = 0;
	TAILQ_FOREACH(c, &clients, entry)
		client_kick(c);
}

/*
 * The switch, run by main between two runs of the loop. Signals are
 * blocked first, then what the loop had already caught is dispatched
 * (a SIGTERM that came just before must not be lost in the exec): a stop
 * begun by then wins over the reexec. Signals that come later stay
 * pending across execve for the new image.
 */
void
reexec_run(void)
{
	struct requests	  reexecs;
	struct client	 *c, *next;
	sigset_t	  old;
	char		**argv, msg[640], why[512];
	int		 *fds, state, previous, saved;
	size_t		  nfds;

	reexec_wanted = 0;
	reexec_block_signals(&old);
	event_base_loop(procd_base, EVLOOP_NONBLOCK);
	event_base_loop(procd_base, EVLOOP_NONBLOCK);
	if (procd_stopping) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		reexec_collect(&reexecs);
		reexec_fail_all(&reexecs, PROTO_STOPPING, "procd is stopping");
		reexec_carry_on();
		return;
	}
	notify_reloading();
again:
	TAILQ_FOREACH(c, &clients, entry) {
		if (client_quiesce(c))
			goto again;
	}
	/* Less to carry: what the peers can take now goes now. */
	TAILQ_FOREACH_SAFE(c, &clients, entry, next)
		client_flush(c);
	if ((state = handoff_save(&fds, &nfds, why, sizeof why)) == -1) {
		snprintf(msg, sizeof msg, "cannot reexec: %s", why);
		goto failed;
	}
	previous = open("/proc/self/exe", O_RDONLY);
	argv = reexec_argv(reexec_path, state, previous, NULL);
	log_info("reexec: executing %s with %zu fds", reexec_path, nfds);
	reexec_cloexec(fds, nfds, 0);
	fcntl(state, F_SETFD, 0);
	execv(reexec_path, argv);

	/* Still here: the old image carries on. */
	saved = errno;
	reexec_cloexec(fds, nfds, 1);
	xfree_strv(argv);
	free(fds);
	close(state);
	if (previous != -1)
		close(previous);
	snprintf(msg, sizeof msg, "cannot reexec: %s: %s", reexec_path,
	    strerror(saved));
failed:
	sigprocmask(SIG_SETMASK, &old, NULL);
	log_warnx("%s", msg);
	reexec_collect(&reexecs);
	reexec_fail_all(&reexecs, PROTO_INTERNAL_ERROR, msg);
	notify_ready();
	reexec_carry_on();
}

/*
 * In the image that took over: answers the reexecs that asked for it,
 * or (back in the previous image) says why the new one refused.
 */
void
reexec_answer(struct handoff_loaded *hl, const char *refused)
{
	struct request	*req;
	json_t		*result;
	char		 msg[512];

	if (refused != NULL) {
		log_warnx("reexec: the new program refused the state: %s; "
		    "carrying on", refused);
		snprintf(msg, sizeof msg, "cannot reexec: the new program could "
		    "not take over: %s", refused);
		reexec_fail_all(&hl->reexecs, PROTO_INTERNAL_ERROR, msg);
		return;
	}
	log_info("procd %s took over from procd %s (reexec %lld)",
	    PROCD_VERSION, hl->previous_version, procd_reexecs);
	while ((req = TAILQ_FIRST(&hl->reexecs)) != NULL) {
		result = json_pack("{s:s, s:s, s:i}", "version", PROCD_VERSION,
		    "previous_version", hl->previous_version,
		    "pid", (int)procd_pid);
		request_reply(req, result);
	}
}

/*
 * The state could not be taken: back to the previous image (kept open
 * as previous), which reads the same state and answers with why. If
 * that fails too, there is nothing left to run.
 */
void
reexec_give_back(int state, int previous, const char *why)
{
	char	**argv;

	if (previous == -1)
		fatalx("reexec: cannot take over the state (%s) and no "
		    "previous image to go back to", why);
	log_warnx("reexec: cannot take over the state: %s; going back to "
	    "the previous image", why);
	argv = reexec_argv(reexec_path != NULL ? reexec_path : "procd",
	    state, previous, why);
	fexecve(previous, argv, environ);
	fatal("reexec: going back to the previous image");
}
