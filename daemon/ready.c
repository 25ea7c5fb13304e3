/* SPDX-License-Identifier: ISC */
/*
 * Readiness: the datagram socket notify jobs report to, as systemd's
 * Type=notify services do (sd_notify). One socket for every job, on an
 * abstract address the kernel picks (so no file can be squatted or left
 * behind), with SO_PASSCRED: the kernel says who sent each datagram, and
 * a datagram counts only from a process of the job's process group or
 * cgroup, or from its main process while procd has not reaped it.
 *
 * Datagrams are parsed strictly, as systemd learned to (CVE-2016-7796):
 * one that is empty, longer than READY_MAX, holds a NUL, or has a line
 * that is not KEY=VALUE is dropped whole, and any fds passed with it are
 * closed at once.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define READY_MAX		4096	/* bytes in one datagram */
#define READY_PER_TURN		64	/* datagrams read per loop turn */
#define READY_MAX_FDS		16

static int		 ready_fd = -1;
static struct event	*ready_event;
static char		 ready_env[sizeof ((struct sockaddr_un *)0)->sun_path +
			     sizeof "NOTIFY_SOCKET=@"];

/* What one datagram asks for. */
struct ready_msg {
	int		 ready;
	const char	*status;	/* NULL: no STATUS= */
	size_t		 status_len;
};

static void	ready_read(int, short, void *);
static void	ready_timeout(int, short, void *);

/*
 * Names fd's kernel-picked abstract address for jobs, and watches fd:
 * the socket ready_init bound, or the one a previous image did (notify
 * jobs already know its name).
 */
void
ready_adopt(int fd)
{
	struct sockaddr_un	sa;
	socklen_t		len;

	ready_fd = fd;
	memset(&sa, 0, sizeof sa);
	len = sizeof sa;
	if (getsockname(ready_fd, (struct sockaddr *)&sa, &len) == -1)
		fatal("notify socket: getsockname");
	len -= offsetof(struct sockaddr_un, sun_path);
	if (len < 2 || sa.sun_path[0] != '\0')
		fatalx("notify socket: no abstract address");
	memcpy(ready_env, "NOTIFY_SOCKET=@", 15);
	memcpy(ready_env + 15, sa.sun_path + 1, len - 1);
	ready_env[15 + len - 1] = '\0';
	ready_event = event_new(procd_base, ready_fd, EV_READ | EV_PERSIST,
	    ready_read, NULL);
	event_add(ready_event, NULL);
	log_debug("notify socket: %s", ready_env + 14);
}

void
ready_init(void)
{
	struct sockaddr_un	sa;
	int			on = 1, fd;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		fatal("notify socket");
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) == -1)
		fatal("notify socket: SO_PASSCRED");
	/* An address of sa_family_t alone: the kernel picks a free one. */
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa.sun_family) == -1)
		fatal("notify socket: bind");
	ready_adopt(fd);
}

int
ready_socket_fd(void)
{
	return (ready_fd);
}

/* A handed-over ready_timeout, with the time it had left. */
void
ready_timer_resume(struct job *job, double left)
{
	struct timeval	tv;

	method_timeval(left, &tv);
	job->ready_timer = evtimer_new(procd_base, ready_timeout, job);
	evtimer_add(job->ready_timer, &tv);
}

void
ready_free(void)
{
	if (ready_event != NULL)
		event_free(ready_event);
	ready_event = NULL;
	if (ready_fd != -1)
		close(ready_fd);
	ready_fd = -1;
}

/* NOTIFY_SOCKET=ADDRESS, for a notify job's environment. */
const char *
ready_socket_env(void)
{
	return (ready_env);
}

/* A key of A-Z, 0-9 and _, then '='; returns its length, or 0. */
static size_t
ready_key(const char *line, size_t len)
{
	size_t	i;

	for (i = 0; i < len && line[i] != '='; i++) {
		if (!((line[i] >= 'A' && line[i] <= 'Z') ||
		    (line[i] >= '0' && line[i] <= '9') || line[i] == '_'))
			return (0);
	}
	return (i < len && i > 0 ? i : 0);
}

static int
ready_text_ok(const char *s, size_t len)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 && s[i] != '\t')
			return (0);
		if (s[i] == 0x7f)
			return (0);
	}
	return (1);
}

/*
 * Parses a datagram of KEY=VALUE lines (a last "\n" is allowed). Returns
 * 0, or -1 if it is malformed and must be dropped whole.
 */
static int
ready_parse(const char *buf, size_t n, struct ready_msg *m)
{
	const char	*line, *end;
	size_t		 len, klen;

	memset(m, 0, sizeof *m);
	if (n == 0 || memchr(buf, '\0', n) != NULL)
		return (-1);
	for (line = buf; line < buf + n; line = end + 1) {
		if ((end = memchr(line, '\n', buf + n - line)) == NULL)
			end = buf + n;
		len = end - line;
		if ((klen = ready_key(line, len)) == 0)
			return (-1);
		if (klen == 5 && strncmp(line, "READY", 5) == 0)
			m->ready = len == 7 && line[6] == '1';
		else if (klen == 6 && strncmp(line, "STATUS", 6) == 0) {
			m->status = line + 7;
			m->status_len = len - 7;
			if (!ready_text_ok(m->status, m->status_len))
				return (-1);
		}
	}
	return (0);
}

/*
 * The job a process belongs to, for a datagram it sent; NULL if none.
 * Its main process, alive or not yet reaped (the pid is still its), or a
 * process of its group; only then the /proc read a tree job needs, for a
 * process that left the group but not the cgroup.
 */
static struct job *
ready_sender_job(pid_t pid)
{
	struct job	*job;
	pid_t		 pgid;

	/* A worker can speak before its spawner's answer is read. */
	if (spawn_pending() > 0)
		spawn_defer_flush();
	if ((job = job_find_pid(pid)) != NULL)
		return (job);
	if ((pgid = getpgid(pid)) > 0 && (job = job_find_pid(pgid)) != NULL)
		return (job);
	return (cgroup_find_pid(pid));
}

/* Answers the start requests waiting for job to be ready. */
static void
ready_answer(struct job *job)
{
	struct request	*req;

	while ((req = TAILQ_FIRST(&job->ready_waiters)) != NULL)
		request_reply_job(req, job);
}

static void
ready_apply(struct job *job, const struct ready_msg *m)
{
	json_t	*s;

	if (m->status != NULL) {
		/* jansson refuses text that is not UTF-8. */
		if ((s = json_stringn(m->status, m->status_len)) == NULL) {
			log_debug("job %lld (%s): STATUS= not UTF-8, dropped",
			    job->id, job->name);
			return;
		}
		free(job->status_text);
		job->status_text = proto_dump(s);
		json_decref(s);
		job_changed(job);
	}
	if (m->ready && !job->ready) {
		job->ready = 1;
		if (job->ready_timer != NULL)
			evtimer_del(job->ready_timer);
		job_changed(job);
		log_debug("job %lld (%s): ready", job->id, job->name);
		feed_emit("ready", job);
		ready_answer(job);
	}
}

/*
 * A job's processes run as its worker's uid (or root, through a setuid
 * program): a pid reused by another user between send and read must not
 * speak for the job.
 */
static int
ready_uid_ok(const struct job *job, uid_t uid)
{
	uid_t	worker = job->creds.change ? job->creds.uid : getuid();

	return (uid == worker || uid == 0);
}

/*
 * Closes what fds came with a datagram; returns the sender, or -1, and
 * its uid in *uid.
 */
static pid_t
ready_control(struct msghdr *msg, uid_t *uid)
{
	struct cmsghdr	*cm;
	struct ucred	 cred;
	pid_t		 pid = -1;
	int		*fds;
	size_t		 i, nfds;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_RIGHTS) {
			fds = (int *)CMSG_DATA(cm);
			nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < nfds; i++)
				close(fds[i]);
		} else if (cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len == CMSG_LEN(sizeof cred)) {
			memcpy(&cred, CMSG_DATA(cm), sizeof cred);
			pid = cred.pid;
			*uid = cred.uid;
		}
	}
	return (pid);
}

/* Takes one datagram; returns 0, or -1 when none is left to read. */
static int
ready_take(void)
{
	char		 buf[READY_MAX + 1];
	union {
		struct cmsghdr	h;
		char		b[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(sizeof(int) * READY_MAX_FDS)];
	}		 cbuf;
	struct iovec	 iov = { buf, sizeof buf };
	struct msghdr	 msg;
	struct ready_msg m;
	struct job	*job;
	ssize_t		 n;
	pid_t		 pid;
	uid_t		 uid = (uid_t)-1;

	memset(&msg, 0, sizeof msg);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = &cbuf;
	msg.msg_controllen = sizeof cbuf;
	if ((n = recvmsg(ready_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC)) ==
	    -1) {
		if (errno == EINTR)
			return (0);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			log_warn("notify socket: recvmsg");
		return (-1);
	}
	pid = ready_control(&msg, &uid);
	if (pid <= 0 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n > READY_MAX || ready_parse(buf, n, &m) == -1) {
		log_debug("notify socket: datagram of %zd bytes from pid %ld "
		    "dropped", n, (long)pid);
		return (0);
	}
	if ((job = ready_sender_job(pid)) == NULL || !job->notify ||
	    !ready_uid_ok(job, uid)) {
		log_debug("notify socket: pid %ld uid %u is no notify job's",
		    (long)pid, (unsigned)uid);
		return (0);
	}
	ready_apply(job, &m);
	return (0);
}

static void
ready_read(int fd, short events, void *arg)
{
	int	i;

	for (i = 0; i < READY_PER_TURN; i++) {
		if (ready_take() == -1)
			break;
	}
}

/* Fails the starts still waiting for job: -32005, the job as data. */
static void
ready_fail_waiters(struct job *job, const char *why)
{
	struct request	*req;
	json_t		*data;

	while ((req = TAILQ_FIRST(&job->ready_waiters)) != NULL) {
		data = json_loads(job_text(job, NULL), 0, NULL);
		request_error_data(req, PROTO_SPAWN_FAILED, data, "%s", why);
	}
}

/*
 * ready_timeout passed: the job is stopped, whether or not the client
 * that started it is still there to be told.
 */
static void
ready_timeout(int fd, short events, void *arg)
{
	struct job	*job = arg;

	log_info("job %lld (%s): not ready in time; terminating it", job->id,
	    job->name);
	/* Its stopping event can cut clients off, freeing their starts. */
	job_stop(job, SIGTERM);
	ready_fail_waiters(job, "not ready in time");
}

/*
 * Parks a start with wait_ready until job is ready or its process exits;
 * with a timeout (>= 0), the job is stopped if it is not ready by then.
 */
enum method_return
ready_wait(struct request *req, struct job *job, double timeout)
{
	struct timeval	tv;

	if (timeout >= 0) {
		method_timeval(timeout, &tv);
		job->ready_timer = evtimer_new(procd_base, ready_timeout, job);
		evtimer_add(job->ready_timer, &tv);
	}
	/* The started event may have cut the client off already. */
	if (req->client->flags & (CLIENT_DEAD | CLIENT_CLOSING))
		return (request_reply_job(req, job));
	return (request_park_job(req, job, &job->ready_waiters, -1, NULL));
}

/* job's process exited: a start still waiting for it to be ready fails. */
void
ready_exited(struct job *job)
{
	/* The wait is over, with this first process. */
	if (job->ready_timer != NULL)
		evtimer_del(job->ready_timer);
	ready_fail_waiters(job, "exited before it was ready");
}
