/* SPDX-License-Identifier: ISC */
/*
 * Whole-tree jobs (kill_mode "tree"): a cgroup v2 folder per job, below
 * the cgroup procd was started in, in a subtree of its own named after
 * procd's uid and socket path:
 *
 *	<procd's cgroup>/procd-<hash>/job-<id>
 *
 * so the next procd on the same socket finds what a dead one left there,
 * stops it and removes it before it serves. The worker is put in its
 * folder from birth (spawn-child.c), and everything it starts stays
 * there. A folder's cgroup.events is watched through inotify: when it
 * says "populated 0" after the job's process exited, the job's work has
 * ended. Stopping uses cgroup.kill for SIGKILL where the kernel has it;
 * other signals (and SIGKILL without it) go to each process while the
 * cgroup is frozen. The subtree is procd's alone: its folder must be
 * procd's uid's, as must the cgroup procd started in, and procd holds a
 * lock on it as long as it runs, so a second procd never cleans a live
 * one's jobs.
 */

#include "config.h"

#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define CGROUP_READ_MAX		4096
#define CGROUP_CLEAN_WAIT_MS	5000

static int		 cgroup_ok;
static char		*cgroup_why;		/* why tree is not available */
static char		*cgroup_root;		/* the subtree, as a path */
static char		*cgroup_rel;		/* the same below the mount */
static int		 cgroup_root_fd = -1;
static int		 cgroup_have_kill;
static int		 cgroup_inotify = -1;
static struct event	*cgroup_event;
static struct job	*cgroup_by_wd;

static void	cgroup_changed(int, short, void *);
static int	cgroup_job_watch(struct job *);

static void
cgroup_unavailable(const char *fmt, const char *arg)
{
	free(cgroup_why);
	xasprintf(&cgroup_why, fmt, arg);
	log_debug("kill_mode tree not available: %s", cgroup_why);
}

/* Reads a small file at dirfd/name into buf; returns its length or -1. */
static ssize_t
cgroup_read(int dirfd, const char *name, char *buf, size_t size)
{
	ssize_t	n;
	int	fd;

	if ((fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	do
		n = read(fd, buf, size - 1);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return (n);
}

static int
cgroup_write(int dirfd, const char *name, const char *text)
{
	ssize_t	n;
	int	fd;

	if ((fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC)) == -1)
		return (-1);
	n = write(fd, text, strlen(text));
	close(fd);
	return (n == (ssize_t)strlen(text) ? 0 : -1);
}

/* The number after "key " in a flat-keyed file's text; 0 if absent. */
static unsigned long long
cgroup_key(const char *text, const char *key)
{
	const char	*p = text;
	size_t		 len = strlen(key);

	while ((p = strstr(p, key)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[len] == ' ')
			return (strtoull(p + len + 1, NULL, 10));
		p += len;
	}
	return (0);
}

/* 1 if dirfd's cgroup has a process, 0 if not, -1 if unknown. */
static int
cgroup_dir_populated(int dirfd)
{
	char	buf[256];

	if (cgroup_read(dirfd, "cgroup.events", buf, sizeof buf) == -1)
		return (-1);
	return (cgroup_key(buf, "populated") != 0);
}

/* The same through an open cgroup.events: no fd needed to look. */
static int
cgroup_events_populated(int fd)
{
	char	buf[256];
	ssize_t	n;

	if (lseek(fd, 0, SEEK_SET) == -1 ||
	    (n = read(fd, buf, sizeof buf - 1)) == -1)
		return (-1);
	buf[n] = '\0';
	return (cgroup_key(buf, "populated") != 0);
}

/*
 * Sends signo to every process in dirfd's cgroup: SIGKILL through
 * cgroup.kill (killfd, if open: it needs no new fd), else to each pid
 * while the cgroup is frozen. Returns how many processes were signalled
 * (cgroup.kill: as counted before).
 */
static int
cgroup_dir_signal(int dirfd, int killfd, int signo)
{
	char	 buf[CGROUP_READ_MAX], *p, *end;
	long	 pid;
	int	 n = 0, fd;
	FILE	*f;

	if (signo == SIGKILL && killfd != -1 && write(killfd, "1", 1) == 1)
		return (1);
	if (signo == SIGKILL && cgroup_have_kill) {
		if (cgroup_read(dirfd, "cgroup.procs", buf, sizeof buf) > 0)
			for (p = buf; (p = strchr(p, '\n')) != NULL; p++)
				n++;
		if (cgroup_write(dirfd, "cgroup.kill", "1") == 0)
			return (n);
	}
	cgroup_write(dirfd, "cgroup.freeze", "1");
	if ((fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC)) != -1 &&
	    (f = fdopen(fd, "r")) != NULL) {
		while (fgets(buf, sizeof buf, f) != NULL) {
			pid = strtol(buf, &end, 10);
			if (pid > 0 && kill(pid, signo) == 0)
				n++;
		}
		fclose(f);
	} else if (fd != -1)
		close(fd);
	cgroup_write(dirfd, "cgroup.freeze", "0");
	return (n);
}

static void	cgroup_clean_dir(int, const char *);

/* Stops what is in a folder left by a dead procd and removes it. */
static void
cgroup_clean_one(int parentfd, const char *name)
{
	int	fd, n, waited;

	if ((fd = openat(parentfd, name, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	n = cgroup_dir_signal(fd, -1, SIGKILL);
	for (waited = 0; cgroup_dir_populated(fd) == 1 &&
	    waited < CGROUP_CLEAN_WAIT_MS; waited += 10)
		poll(NULL, 0, 10);
	/* Cgroups a job made below its own go first. */
	cgroup_clean_dir(fd, name);
	close(fd);
	if (n > 0)
		log_info("cgroup %s/%s: stopped %d process%s left by a "
		    "previous procd", cgroup_root, name, n, n == 1 ? "" : "es");
	if (unlinkat(parentfd, name, AT_REMOVEDIR) == -1)
		log_warn("cgroup %s/%s: rmdir", cgroup_root, name);
}

/* Cleans every folder in dirfd (path: for the log). */
static void
cgroup_clean_dir(int dirfd, const char *path)
{
	struct dirent	*de;
	DIR		*d;
	int		 fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		log_warn("cgroup %s: cannot list it", path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_type == DT_DIR && de->d_name[0] != '.')
			cgroup_clean_one(dirfd, de->d_name);
	}
	closedir(d);
}

/* Whatever a dead predecessor left in the subtree. */
static void
cgroup_clean(void)
{
	cgroup_clean_dir(cgroup_root_fd, cgroup_root);
}

/*
 * procd's own cgroup v2 folder: the "0::" line of /proc/self/cgroup
 * below the cgroup2 mount (unified, or the hybrid layout's "unified").
 * Returns a malloc'd path, with *rel the part below the mount, or NULL.
 */
static char *
cgroup_locate(char **rel)
{
	char	 line[4096], root[1024], point[1024], type[64], *path, *nl;
	char	*own = NULL, *found = NULL;
	FILE	*f;

	if ((f = fopen("/proc/self/cgroup", "re")) == NULL)
		return (NULL);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "0::", 3) == 0) {
			if ((nl = strchr(line, '\n')) != NULL)
				*nl = '\0';
			own = xstrdup(line + 3);
		}
	}
	fclose(f);
	if (own == NULL)
		return (NULL);
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL) {
		free(own);
		return (NULL);
	}
	while (found == NULL && fgets(line, sizeof line, f) != NULL) {
		if ((path = strstr(line, " - ")) == NULL ||
		    sscanf(path, " - %63s", type) != 1 ||
		    strcmp(type, "cgroup2") != 0 ||
		    sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) != 2)
			continue;
		/* A mount of a part of the hierarchy must hold our cgroup. */
		if (strcmp(root, "/") == 0)
			xasprintf(&found, "%s%s", point, own);
		else if (strncmp(own, root, strlen(root)) == 0 &&
		    (own[strlen(root)] == '/' || own[strlen(root)] == '\0'))
			xasprintf(&found, "%s%s", point, own + strlen(root));
	}
	fclose(f);
	if (found != NULL && strcmp(own, "/") == 0)
		found[strlen(found) - 1] = '\0';	/* no trailing "/" */
	*rel = own;
	return (found);
}

/* The subtree's name: procd's uid and socket path, hashed (FNV-1a). */
static void
cgroup_subtree_name(const char *socket_path, char *name, size_t size)
{
	unsigned long long	 h = 0xcbf29ce484222325ULL;
	uid_t			 uid = getuid();
	const unsigned char	*p;
	size_t			 i;

	p = (const unsigned char *)&uid;
	for (i = 0; i < sizeof uid; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	for (p = (const unsigned char *)socket_path; *p != '\0'; p++)
		h = (h ^ *p) * 0x100000001b3ULL;
	snprintf(name, size, "procd-%016llx", h);
}

/*
 * Under systemd with Delegate=yes, procd's cgroup is the service's, and
 * a delegated cgroup should hold processes only in its leaves: procd
 * moves itself into one of its subtree.
 */
static void
cgroup_leave_service(const char *own_rel)
{
	if (getenv("INVOCATION_ID") == NULL || strcmp(own_rel, "/") == 0)
		return;
	if (mkdirat(cgroup_root_fd, "supervisor", 0755) == -1 &&
	    errno != EEXIST)
		return;
	if (cgroup_write(cgroup_root_fd, "supervisor/cgroup.procs", "0") ==
	    -1)
		log_warn("cgroup %s/supervisor: cannot move procd", cgroup_root);
}

/*
 * Whether path is a folder of procd's uid that no one else may write:
 * another user who owns the cgroup procd started in could otherwise make
 * its subtree beforehand, or move its jobs' processes out.
 */
static int
cgroup_owned(const char *path, int fd)
{
	struct stat	sb;

	if ((fd == -1 ? stat(path, &sb) : fstat(fd, &sb)) == -1)
		return (0);
	return (S_ISDIR(sb.st_mode) && sb.st_uid == getuid() &&
	    (sb.st_mode & 022) == 0);
}

/* Opens, vets and locks the subtree; returns its fd or -1. */
static int
cgroup_open_subtree(const char *base)
{
	int	fd;

	if (!cgroup_owned(base, -1)) {
		cgroup_unavailable("procd's cgroup %s is not its uid's alone",
		    base);
		return (-1);
	}
	if (mkdir(cgroup_root, 0755) == -1 && errno != EEXIST) {
		cgroup_unavailable("cannot create a cgroup below procd's: %s",
		    strerror(errno));
		return (-1);
	}
	fd = open(cgroup_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1 || !cgroup_owned(cgroup_root, fd) ||
	    faccessat(fd, "cgroup.procs", W_OK, 0) == -1) {
		cgroup_unavailable("cannot use %s", cgroup_root);
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		cgroup_unavailable("%s is in use by another procd",
		    cgroup_root);
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Finds and cleans procd's subtree; see procd(8), WHOLE-TREE JOBS. */
void
cgroup_init(const char *socket_path)
{
	char	 name[32], *base, *own;
	int	 fd;

	if ((base = cgroup_locate(&own)) == NULL) {
		cgroup_unavailable("no cgroup v2 hierarchy (%s)",
		    "/proc/self/cgroup has no 0:: line or none is mounted");
		return;
	}
	cgroup_subtree_name(socket_path, name, sizeof name);
	xasprintf(&cgroup_root, "%s/%s", base, name);
	xasprintf(&cgroup_rel, "%s%s%s", own, strcmp(own, "/") == 0 ? "" :
	    "/", name);
	fd = cgroup_open_subtree(base);
	free(base);
	if (fd == -1) {
		free(own);
		return;
	}
	cgroup_root_fd = fd;
	cgroup_have_kill = faccessat(fd, "cgroup.kill", F_OK, 0) == 0;
	cgroup_clean();
	cgroup_leave_service(own);
	free(own);
	if ((cgroup_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		fatal("inotify_init1");
	cgroup_event = event_new(procd_base, cgroup_inotify, EV_READ |
	    EV_PERSIST, cgroup_changed, NULL);
	event_add(cgroup_event, NULL);
	cgroup_ok = 1;
	log_debug("kill_mode tree: jobs in %s%s", cgroup_root,
	    cgroup_have_kill ? "" : " (no cgroup.kill)");
}

void
cgroup_free(void)
{
	if (cgroup_event != NULL)
		event_free(cgroup_event);
	cgroup_event = NULL;
	if (cgroup_inotify != -1)
		close(cgroup_inotify);
	cgroup_inotify = -1;
	if (cgroup_root_fd != -1) {
		/* Empty by now: every job has finished. */
		close(cgroup_root_fd);
		if (rmdir(cgroup_root) == -1 && errno != ENOENT &&
		    errno != EBUSY)
			log_warn("rmdir %s", cgroup_root);
	}
	cgroup_root_fd = -1;
	free(cgroup_root);
	free(cgroup_rel);
	free(cgroup_why);
	cgroup_root = cgroup_rel = cgroup_why = NULL;
}

/* Whether kill_mode tree can be used; if not, *why says why. */
int
cgroup_available(const char **why)
{
	if (why != NULL)
		*why = cgroup_why != NULL ? cgroup_why : "not set up";
	return (cgroup_ok);
}

/* Makes job's folder, before its process exists. Returns 0 or -1. */
int
cgroup_job_create(struct job *job)
{
	char	name[32];

	snprintf(name, sizeof name, "job-%lld", job->id);
	if (mkdirat(cgroup_root_fd, name, 0755) == -1 && (errno != EEXIST ||
	    unlinkat(cgroup_root_fd, name, AT_REMOVEDIR) == -1 ||
	    mkdirat(cgroup_root_fd, name, 0755) == -1)) {
		/* Someone removed the subtree under procd: no more trees. */
		if (errno == ENOENT) {
			cgroup_ok = 0;
			cgroup_unavailable("%s was removed", cgroup_root);
			errno = ENOENT;
		}
		return (-1);
	}
	job->cg_fd = openat(cgroup_root_fd, name, O_RDONLY | O_DIRECTORY |
	    O_NOFOLLOW | O_CLOEXEC);
	if (job->cg_fd == -1) {
		unlinkat(cgroup_root_fd, name, AT_REMOVEDIR);
		return (-1);
	}
	job->cg_events = openat(job->cg_fd, "cgroup.events", O_RDONLY |
	    O_CLOEXEC);
	if (job->cg_events == -1) {
		cgroup_job_remove(job);
		return (-1);
	}
	/* Kept, so a stop works when procd is short of fds. */
	if (cgroup_have_kill)
		job->cg_kill = openat(job->cg_fd, "cgroup.kill", O_WRONLY |
		    O_CLOEXEC);
	if (cgroup_job_watch(job) == -1) {
		cgroup_job_remove(job);
		return (-1);
	}
	return (0);
}

/* Watches job's cgroup.events through the one inotify fd. */
static int
cgroup_job_watch(struct job *job)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/self/fd/%d/cgroup.events",
	    job->cg_fd);
	job->cg_wd = inotify_add_watch(cgroup_inotify, path, IN_MODIFY);
	if (job->cg_wd == -1) {
		log_warn("job %lld: inotify_add_watch %s", job->id, path);
		return (-1);
	}
	HASH_ADD(hh_cg, cgroup_by_wd, cg_wd, sizeof job->cg_wd, job);
	return (0);
}

/* The cgroup's CPU time so far: the base a process's usage counts from. */
void
cgroup_job_started(struct job *job)
{
	char	buf[1024];

	if (cgroup_read(job->cg_fd, "cpu.stat", buf, sizeof buf) == -1)
		return;
	job->cg_user_base = cgroup_key(buf, "user_usec");
	job->cg_system_base = cgroup_key(buf, "system_usec");
}

/* usage's CPU times: the whole tree's since the process started. */
void
cgroup_usage(struct job *job)
{
	unsigned long long	user, sys;
	char			buf[1024];

	if (job->cg_fd == -1 ||
	    cgroup_read(job->cg_fd, "cpu.stat", buf, sizeof buf) == -1)
		return;
	user = cgroup_key(buf, "user_usec") - job->cg_user_base;
	sys = cgroup_key(buf, "system_usec") - job->cg_system_base;
	job->usage.ru_utime.tv_sec = user / 1000000;
	job->usage.ru_utime.tv_usec = user % 1000000;
	job->usage.ru_stime.tv_sec = sys / 1000000;
	job->usage.ru_stime.tv_usec = sys % 1000000;
}

int
cgroup_signal(struct job *job, int signo)
{
	if (job->cg_fd == -1)
		return (0);
	if (signo == SIGKILL)
		job->cg_killed = 1;
	cgroup_dir_signal(job->cg_fd, job->cg_kill, signo);
	return (0);
}

/* 1 if job's cgroup has a process, 0 if not, -1 if it cannot be told. */
int
cgroup_populated(struct job *job)
{
	if (job->cg_events == -1)
		return (0);
	return (cgroup_events_populated(job->cg_events));
}

/* The job is finished or discarded: its folder goes. */
void
cgroup_job_remove(struct job *job)
{
	char	name[32];

	if (job->cg_wd != -1) {
		HASH_DELETE(hh_cg, cgroup_by_wd, job);
		inotify_rm_watch(cgroup_inotify, job->cg_wd);
		job->cg_wd = -1;
	}
	if (job->cg_events != -1)
		close(job->cg_events);
	if (job->cg_kill != -1)
		close(job->cg_kill);
	job->cg_events = job->cg_kill = -1;
	if (job->cg_fd == -1)
		return;
	close(job->cg_fd);
	job->cg_fd = -1;
	snprintf(name, sizeof name, "job-%lld", job->id);
	if (unlinkat(cgroup_root_fd, name, AT_REMOVEDIR) == -1)
		log_warn("cgroup %s/%s: rmdir", cgroup_root, name);
}

/* The tree job a process is in, from its /proc/PID/cgroup; or NULL. */
struct job *
cgroup_find_pid(pid_t pid)
{
	char		 path[64], line[4096], *p, *end;
	struct job	*job = NULL;
	size_t		 len;
	long long	 id;
	FILE		*f;

	if (!cgroup_ok || HASH_CNT(hh_cg, cgroup_by_wd) == 0)
		return (NULL);
	snprintf(path, sizeof path, "/proc/%ld/cgroup", (long)pid);
	if ((f = fopen(path, "re")) == NULL)
		return (NULL);
	len = strlen(cgroup_rel);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		p = line + 3;
		if (strncmp(p, cgroup_rel, len) != 0 ||
		    strncmp(p + len, "/job-", 5) != 0)
			break;
		id = strtoll(p + len + 5, &end, 10);
		if (*end == '\n' || *end == '\0')
			job = job_find_id(id);
		break;
	}
	fclose(f);
	return (job != NULL && job->tree ? job : NULL);
}

static void
cgroup_check_one(struct job *job)
{
	if (job->cg_waiting && cgroup_populated(job) == 0)
		job_tree_empty(job);
}

/*
 * Lost change notices: every tree being waited for is looked at. A tree
 * that ends can finish others and take them out of the table, so the walk
 * starts again after each.
 */
static void
cgroup_check_all(void)
{
	struct job	*job, *tmp;

again:
	HASH_ITER(hh_cg, cgroup_by_wd, job, tmp) {
		if (job->cg_waiting && cgroup_populated(job) == 0) {
			job_tree_empty(job);
			goto again;
		}
	}
}

/* Some job's cgroup.events changed: has a tree emptied? */
static void
cgroup_changed(int fd, short events, void *arg)
{
	char				 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ev;
	struct job			*job;
	ssize_t				 n;
	char				*p;
	int				 wd;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (p = buf; p < buf + n; p += sizeof *ev + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				cgroup_check_all();
				continue;
			}
			wd = ev->wd;
			HASH_FIND(hh_cg, cgroup_by_wd, &wd, sizeof wd, job);
			if (job != NULL)
				cgroup_check_one(job);
		}
	}
}

void
cgroup_handoff_get(struct cgroup_handoff *ch)
{
	ch->ok = cgroup_ok;
	ch->why = cgroup_why;
	ch->root = cgroup_root;
	ch->rel = cgroup_rel;
	ch->fd = cgroup_root_fd;
	ch->have_kill = cgroup_have_kill;
}

/*
 * Takes over the subtree (and the lock its fd holds) from a previous
 * image: nothing in it is a dead procd's, so nothing is cleaned.
 */
void
cgroup_handoff_set(const struct cgroup_handoff *ch)
{
	cgroup_ok = ch->ok;
	cgroup_why = ch->why != NULL ? xstrdup(ch->why) : NULL;
	cgroup_root = ch->root != NULL ? xstrdup(ch->root) : NULL;
	cgroup_rel = ch->rel != NULL ? xstrdup(ch->rel) : NULL;
	cgroup_root_fd = ch->fd;
	cgroup_have_kill = ch->have_kill;
	if (cgroup_root_fd == -1)
		return;
	if ((cgroup_inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		fatal("inotify_init1");
	cgroup_event = event_new(procd_base, cgroup_inotify, EV_READ |
	    EV_PERSIST, cgroup_changed, NULL);
	event_add(cgroup_event, NULL);
}

/* Watches a handed-over tree job's cgroup.events again. */
int
cgroup_job_adopt(struct job *job)
{
	if (cgroup_inotify == -1)
		return (-1);
	return (cgroup_job_watch(job));
}
