/* SPDX-License-Identifier: ISC */
/*
 * Starting a worker: its argv, environment and program path, made here in
 * procd, then the spawn child (spawn-child.c). The child is a vfork, so
 * when it returns the worker has exec'd or the exec error is in hand:
 * start answers with the truth, and a terminate sent right after it
 * reaches a process that already has default signal dispositions. The
 * worker leads its own session and process group, with an empty signal
 * mask, default dispositions, stdin on /dev/null, no fd beyond 0-2, and
 * SIGKILL as its parent-death signal.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define SPAWN_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

extern char	**environ;

/* procd's environment without the variables meant for procd alone. */
static char	**spawn_base_env;
static size_t	  spawn_base_count;
static int	  spawn_devnull = -1;	/* the worker's stdin */

static int
spawn_env_private(const char *entry)
{
	static const char *const names[] = {
		"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=",
		"NOTIFY_SOCKET=", "WATCHDOG_", NULL
	};
	const char *const	*n;

	for (n = names; *n != NULL; n++) {
		if (strncmp(entry, *n, strlen(*n)) == 0)
			return (1);
	}
	return (0);
}

void
spawn_init(void)
{
	char	**e;
	size_t	  n = 0;

	for (e = environ; *e != NULL; e++)
		n++;
	spawn_base_env = xcalloc(n + 1, sizeof *spawn_base_env);
	for (e = environ; *e != NULL; e++) {
		if (!spawn_env_private(*e))
			spawn_base_env[spawn_base_count++] = xstrdup(*e);
	}
	if ((spawn_devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		fatal("/dev/null");
	spawn_child_init();
	spawner_init(procd_config.spawners);
}

/* The variables a root procd takes from the owner's database entry. */
static const char *const spawn_user_vars[] = {
	"HOME", "USER", "LOGNAME", "SHELL", NULL
};

static int
spawn_is_user_var(const char *entry, size_t len)
{
	const char *const	*v;

	for (v = spawn_user_vars; *v != NULL; v++) {
		if (strlen(*v) == len && strncmp(entry, *v, len) == 0)
			return (1);
	}
	return (0);
}

/*
 * The owner's HOME, USER, LOGNAME and SHELL (no database entry: "/",
 * the uid in digits, and /bin/sh), except those env names, into envp.
 */
static size_t
spawn_user_env(const struct user *owner, const json_t *env, char **envp,
    char **own)
{
	char	 digits[16];
	const char *values[4];
	size_t	 i, n = 0;

	snprintf(digits, sizeof digits, "%u", (unsigned)owner->uid);
	values[0] = owner->db_found ? owner->home : "/";
	values[1] = values[2] = owner->db_found ? owner->name : digits;
	values[3] = owner->db_found ? owner->shell : "/bin/sh";
	for (i = 0; spawn_user_vars[i] != NULL; i++) {
		if (env != NULL && json_object_get(env, spawn_user_vars[i]) !=
		    NULL)
			continue;
		xasprintf(&own[n], "%s=%s", spawn_user_vars[i], values[i]);
		envp[n] = own[n];
		n++;
	}
	return (n);
}

/*
 * The worker's environment: the base, less the names env mentions (and,
 * with owner, the owner's variables from the user database), plus env's
 * string values. Only the strings built here go into *owned.
 */
static char **
spawn_env(const json_t *env, const struct user *owner, const char *notify,
    char ***owned)
{
	const char	*key, *eq;
	json_t		*value;
	char		**envp, **own;
	size_t		  i, n = 0, o = 0, extra;

	extra = json_object_size(env) + 5;
	envp = xcalloc(spawn_base_count + extra + 1, sizeof *envp);
	own = xcalloc(extra + 1, sizeof *own);
	for (i = 0; i < spawn_base_count; i++) {
		eq = strchr(spawn_base_env[i], '=');
		if (eq != NULL && env != NULL && json_object_getn(env,
		    spawn_base_env[i], eq - spawn_base_env[i]) != NULL)
			continue;
		if (eq != NULL && owner != NULL &&
		    spawn_is_user_var(spawn_base_env[i], eq - spawn_base_env[i]))
			continue;
		envp[n++] = spawn_base_env[i];
	}
	if (owner != NULL) {
		o = spawn_user_env(owner, env, envp + n, own);
		n += o;
	}
	/* Before env, which may still set it. */
	if (notify != NULL && (env == NULL ||
	    json_object_get(env, "NOTIFY_SOCKET") == NULL))
		envp[n++] = (char *)notify;
	json_object_foreach((json_t *)env, key, value) {
		if (!json_is_string(value))
			continue;
		xasprintf(&own[o], "%s=%s", key, json_string_value(value));
		envp[n++] = own[o++];
	}
	*owned = own;
	return (envp);
}

static int
spawn_is_exec(const char *path)
{
	struct stat	sb;

	if (stat(path, &sb) == -1)
		return (-1);
	if (!S_ISREG(sb.st_mode)) {
		errno = EACCES;
		return (-1);
	}
	return (access(path, X_OK));
}

/*
 * Finds a name without '/' in the PATH of the worker's environment, as
 * execvp would; relative entries are relative to the worker's cwd.
 * Returns a malloc'd path, or NULL with errno set.
 */
static char *
spawn_search(const char *name, char **envp, const char *cwd)
{
	const char	*path = SPAWN_DEFAULT_PATH, *p, *end;
	char		*candidate;
	char		**e;
	int		 saw_eacces = 0;
	size_t		 len;

	for (e = envp; *e != NULL; e++) {
		if (strncmp(*e, "PATH=", 5) == 0) {
			path = *e + 5;
			break;
		}
	}
	for (p = path;; p = end + 1) {
		end = strchrnul(p, ':');
		len = end - p;
		if (len == 0)
			xasprintf(&candidate, "%s/%s", cwd, name);
		else if (*p == '/')
			xasprintf(&candidate, "%.*s/%s", (int)len, p, name);
		else
			xasprintf(&candidate, "%s/%.*s/%s", cwd, (int)len, p,
			    name);
		if (spawn_is_exec(candidate) == 0)
			return (candidate);
		if (errno == EACCES)
			saw_eacces = 1;
		free(candidate);
		if (*end == '\0')
			break;
	}
	errno = saw_eacces ? EACCES : ENOENT;
	return (NULL);
}

static void
spawn_failed(int error, const char *what, const char *path, char **cause,
    json_t **data)
{
	*cause = xstrdup(strerror(error));
	*data = json_pack("{s:i, s:s, s:s}", "errno", error, "during", what,
	    "path", path);
}

/* What one spawn needs, made here in procd before the clone. */
struct spawn_work {
	struct spawn_child	 sc;
	char			**argv;
	char			**envp;
	char			**owned;
	char			 *path;
	int			  wfd[2];
};

static void
spawn_work_free(struct spawn_work *w)
{
	free(w->path);
	free(w->argv);
	free(w->envp);
	xfree_strv(w->owned);
	memset(w, 0, sizeof *w);
}

/*
 * Makes job's argv, environment, program path and output pipes, with the
 * env and credentials it keeps for its restarts too. Returns 0, or -1
 * with *cause and *data set and nothing left to free.
 */
static int
spawn_prepare(struct job *job, struct spawn_work *w, char **cause,
    json_t **data)
{
	struct spawn_child	*sc = &w->sc;
	size_t			 i, argc;

	memset(w, 0, sizeof *w);
	argc = json_array_size(job->argv);
	w->argv = xcalloc(argc + 1, sizeof *w->argv);
	for (i = 0; i < argc; i++)
		w->argv[i] = (char *)json_string_value(json_array_get(
		    job->argv, i));
	/* A root procd's workers get their owner's variables. */
	w->envp = spawn_env(job->env, user_procd_is_root() ? job->owner : NULL,
	    job->notify ? ready_socket_env() : NULL, &w->owned);
	if (strchr(w->argv[0], '/') != NULL)
		w->path = xstrdup(w->argv[0]);
	else if ((w->path = spawn_search(w->argv[0], w->envp,
	    job->cwd)) == NULL) {
		spawn_failed(errno, "exec", w->argv[0], cause, data);
		spawn_work_free(w);
		return (-1);
	}
	if (output_pipes(job, w->wfd) == -1) {
		spawn_failed(errno, "pipe", w->path, cause, data);
		spawn_work_free(w);
		return (-1);
	}
	sc->path = w->path;
	sc->argv = w->argv;
	sc->envp = w->envp;
	sc->cwd = job->cwd;
	sc->creds = &job->creds;
	sc->nofile = procd_nofile;
	sc->cgroup_fd = -1;
	sc->stdin_fd = spawn_devnull;
	sc->stdout_fd = sc->stderr_fd = -1;
	if (job->out_mode == OUTPUT_CAPTURE) {
		sc->stdout_fd = w->wfd[0];
		sc->stderr_fd = w->wfd[1];
	} else if (job->out_mode == OUTPUT_NULL)
		sc->stdout_fd = sc->stderr_fd = spawn_devnull;
	return (0);
}

/*
 * The end of a spawn, made here or by a spawner: the pipes go to the job,
 * or on failure are closed and *cause and *data set. Frees w.
 */
static pid_t
spawn_finish(struct job *job, struct spawn_work *w, pid_t pid, int step,
    char **cause, json_t **data)
{
	if (pid == -1) {
		spawn_failed(errno, spawn_child_step_name(step),
		    step == SPAWN_STEP_CHDIR ? job->cwd : w->path, cause, data);
		output_abort(job, w->wfd);
	} else
		output_started(job, w->wfd);
	spawn_work_free(w);
	return (pid);
}

/*
 * Spawns the worker for job, here in procd's main thread. Returns its
 * pid, or -1 with *cause (the strerror text) and *data set.
 */
pid_t
spawn_job(struct job *job, char **cause, json_t **data)
{
	struct spawn_work	 w;
	pid_t			 pid;
	int			 step;

	if (spawn_prepare(job, &w, cause, data) == -1)
		return (-1);
	if (job->tree) {
		w.sc.cgroup_fd = job->cg_fd;
		/*
		 * After a cgroup.kill, Linux 6.14 and later kill every child
		 * clone3 puts in that cgroup (its fork-versus-kill check reads
		 * the parent's cgroup), so such a job's children go in by
		 * cgroup.procs.
		 */
		w.sc.cgroup_no_clone3 = job->cg_killed;
		cgroup_job_started(job);
	}
	pid = spawn_child_run(&w.sc, &step);
	return (spawn_finish(job, &w, pid, step, cause, data));
}

/* ---- spawns handed to a spawner ---------------------------------------- */

/*
 * A start read while more requests follow it, or while other spawns are
 * out, goes to a spawner (spawner.c), and procd goes on: it reads the
 * next request, serves other clients, and finishes the start when the
 * spawner answers. Until then the job is in no table: a start is seen
 * to happen when it is answered, as with any request. For the client's
 * own later requests, the order of a procd that spawns one job at a time
 * holds: a join of the job (by its name) waits for it, and any other
 * request, or a name or parent or limit that a spawn out decides, first
 * waits for every spawn out (spawn_defer_flush); so does reaping, which
 * must know every worker's pid, and a stop. Spawns finish in the order
 * they were sent, so each job gets the id, and the place in the events,
 * it would have had: a start that fails gives its id to the next.
 *
 * A start alone (a start, then its join, in one read) is held rather
 * than sent, and spawned here at the end of the read if no other came:
 * the round trip to a spawner would only add to its time. Its client is
 * busy, though, when others of its requests wait (joins of the jobs it
 * runs at once): then each start goes out at once, even one per read.
 */
struct spawn_pending {
	struct job		*job;
	struct spawn_work	 work;
	int			 spawner;	/* -1: held, not sent */
	int			 answered;	/* result below */
	pid_t			 pid;
	int			 step;
	int			 error;
	int			 named;	/* a name of its own, not job-ID */
	struct requests		 start;	/* the start request, until answered */
	TAILQ_ENTRY(spawn_pending) entry;
};
static TAILQ_HEAD(spawn_pendings_head, spawn_pending) spawn_pendings =
    TAILQ_HEAD_INITIALIZER(spawn_pendings);
static u_int	spawn_pending_count;
static int	spawn_defer_depth;
static int	spawn_more_input;	/* requests follow the current one */

static void	spawn_pending_send_held(void);
static void	spawn_pending_drain(struct spawn_pending *);

void
spawn_defer_begin(void)
{
	spawn_defer_depth++;
}

/* The end of a client's read: a start alone is spawned here. */
void
spawn_defer_end(void)
{
	struct spawn_pending	*p = TAILQ_FIRST(&spawn_pendings);

	spawn_defer_depth--;
	if (spawn_pending_count == 1 && p->spawner == -1)
		spawn_defer_flush();
	else {
		spawn_pending_send_held();
		spawn_pending_drain(NULL);
	}
}

/* Whether more requests follow the one about to run. */
void
spawn_defer_more(int more)
{
	spawn_more_input = more;
}

u_int
spawn_pending(void)
{
	return (spawn_pending_count);
}

/* A job named name whose spawn is out, or NULL. */
struct job *
spawn_pending_find(const char *name)
{
	struct spawn_pending	*p;

	TAILQ_FOREACH(p, &spawn_pendings, entry) {
		if (p->named && strcmp(p->job->name, name) == 0)
			return (p->job);
	}
	return (NULL);
}

/* Takes p's answer from its spawner, waiting for it if need be. */
static void
spawn_pending_collect(struct spawn_pending *p)
{
	p->pid = spawner_wait(p->spawner, &p->step);
	p->error = errno;
	p->answered = 1;
}

/* Finishes the oldest start: p, answered or held (spawned here now). */
static void
spawn_pending_finish(struct spawn_pending *p)
{
	char	*cause = NULL;
	json_t	*data = NULL;
	pid_t	 pid;

	TAILQ_REMOVE(&spawn_pendings, p, entry);
	spawn_pending_count--;
	if (p->spawner == -1)
		pid = spawn_job(p->job, &cause, &data);
	else if (p->pid == -1 && p->step == -1) {
		/* No worker was made: procd makes it. */
		output_abort(p->job, p->work.wfd);
		spawn_work_free(&p->work);
		pid = spawn_job(p->job, &cause, &data);
	} else {
		errno = p->error;
		pid = spawn_finish(p->job, &p->work, p->pid, p->step, &cause,
		    &data);
	}
	method_start_spawned(p->job, TAILQ_FIRST(&p->start), !p->named, pid,
	    cause, data);
	free(p);
}

/* Finishes every spawn out, in the order they were sent. */
void
spawn_defer_flush(void)
{
	struct spawn_pending	*p;

	while ((p = TAILQ_FIRST(&spawn_pendings)) != NULL) {
		if (p->spawner != -1 && !p->answered)
			spawn_pending_collect(p);
		spawn_pending_finish(p);
	}
}

/*
 * Sends p's spawn to an idle spawner. Returns -1 if none is idle (p stays
 * held), else 0: sent, or, where it cannot go (too large; its program
 * not found), marked to be spawned here in its turn.
 */
static int
spawn_pending_send(struct spawn_pending *p)
{
	char	*cause;
	json_t	*data;
	int	 i;

	if ((i = spawner_idle()) == -1)
		return (-1);
	if (spawn_prepare(p->job, &p->work, &cause, &data) == -1) {
		/* spawn_job finds the same failure and reports it. */
		free(cause);
		json_decref(data);
		p->answered = 1;
		return (0);
	}
	if (spawner_send(i, &p->work.sc) == -1) {
		output_abort(p->job, p->work.wfd);
		spawn_work_free(&p->work);
		p->answered = 1;
		return (0);
	}
	p->spawner = i;
	return (0);
}

/* Sends the held spawns, oldest first, while spawners are idle. */
static void
spawn_pending_send_held(void)
{
	struct spawn_pending	*p;

	TAILQ_FOREACH(p, &spawn_pendings, entry) {
		if (p->spawner == -1 && !p->answered &&
		    spawn_pending_send(p) == -1)
			break;
	}
}

/* Finishes the oldest starts that are answered, up to stop. */
static void
spawn_pending_drain(struct spawn_pending *stop)
{
	struct spawn_pending	*p;

	while ((p = TAILQ_FIRST(&spawn_pendings)) != NULL && p != stop &&
	    p->answered)
		spawn_pending_finish(p);
}

/* Waits for the oldest spawn out. Returns -1 if none is out. */
static int
spawn_pending_wait_oldest(struct spawn_pending *stop)
{
	struct spawn_pending	*p;

	TAILQ_FOREACH(p, &spawn_pendings, entry) {
		if (p->spawner != -1 && !p->answered)
			break;
	}
	if (p == NULL)
		return (-1);
	spawn_pending_collect(p);
	spawn_pending_drain(stop);
	return (0);
}

/*
 * Spawner i answered (its socket is readable): the oldest starts that
 * are answered finish, and what is held goes out. Without spawners any
 * more, every start left is spawned here.
 */
void
spawn_answered(int i)
{
	struct spawn_pending	*p;

	TAILQ_FOREACH(p, &spawn_pendings, entry) {
		if (p->spawner == i && !p->answered) {
			spawn_pending_collect(p);
			break;
		}
	}
	/* None: a flush took the answer since the loop saw it come. */
	if (p == NULL)
		return;
	if (spawner_available() == 0) {
		spawn_defer_flush();
		return;
	}
	spawn_pending_drain(NULL);
	spawn_pending_send_held();
	spawn_pending_drain(NULL);
}

/*
 * Takes job's spawn out of line, if that is worth it now: while more
 * requests follow or other spawns are out. Returns the queue its start
 * request is to wait on (method_start_spawned answers it), or NULL:
 * spawn_job it now. With every spawner busy it waits for the oldest, so
 * no more than one start per spawner is ever out: a request that must
 * wait for them all waits for that much at most.
 */
struct requests *
spawn_job_defer(struct job *job, int named, int busy)
{
	struct spawn_pending	*p;

	if (spawn_defer_depth == 0 || job->tree || spawner_available() == 0 ||
	    (!spawn_more_input && spawn_pending_count == 0 && !busy))
		return (NULL);
	p = xcalloc(1, sizeof *p);
	p->job = job;
	p->spawner = -1;
	p->named = named;
	TAILQ_INIT(&p->start);
	TAILQ_INSERT_TAIL(&spawn_pendings, p, entry);
	/* A start alone stays held: see above. */
	if (++spawn_pending_count == 1 && !busy)
		return (&p->start);
	for (;;) {
		spawn_pending_send_held();
		if (p->spawner != -1 || p->answered ||
		    spawn_pending_wait_oldest(p) == -1)
			break;
	}
	return (&p->start);
}

void
spawn_free(void)
{
	spawner_free();
	spawn_child_free();
	if (spawn_devnull != -1)
		close(spawn_devnull);
	spawn_devnull = -1;
	xfree_strv(spawn_base_env);
	spawn_base_env = NULL;
}
