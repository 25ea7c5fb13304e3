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

/*
 * Spawns the worker for job, with the env and credentials it keeps for
 * its restarts too. Returns its pid, or -1 with
 * *cause (the strerror text) and *data set.
 */
pid_t
spawn_job(struct job *job, char **cause, json_t **data)
{
	struct spawn_child	 sc;
	const char		*argv0;
	char			**argv, **envp, **owned, *path;
	size_t			  i, argc;
	pid_t			  pid = -1;
	int			  wfd[2], step;

	argc = json_array_size(job->argv);
	argv = xcalloc(argc + 1, sizeof *argv);
	for (i = 0; i < argc; i++)
		argv[i] = (char *)json_string_value(json_array_get(job->argv,
		    i));
	argv0 = argv[0];
	/* A root procd's workers get their owner's variables. */
	envp = spawn_env(job->env, user_procd_is_root() ? job->owner : NULL,
	    job->notify ? ready_socket_env() : NULL, &owned);
	if (strchr(argv0, '/') != NULL)
		path = xstrdup(argv0);
	else if ((path = spawn_search(argv0, envp, job->cwd)) == NULL) {
		spawn_failed(errno, "exec", argv0, cause, data);
		goto out;
	}
	if (output_pipes(job, wfd) == -1) {
		spawn_failed(errno, "pipe", path, cause, data);
		goto out;
	}
	memset(&sc, 0, sizeof sc);
	sc.path = path;
	sc.argv = argv;
	sc.envp = envp;
	sc.cwd = job->cwd;
	sc.creds = &job->creds;
	sc.nofile = procd_nofile;
	sc.cgroup_fd = -1;
	if (job->tree) {
		sc.cgroup_fd = job->cg_fd;
		/*
		 * After a cgroup.kill, Linux 6.14 and later kill every child
		 * clone3 puts in that cgroup (its fork-versus-kill check reads
		 * the parent's cgroup), so such a job's children go in by
		 * cgroup.procs.
		 */
		sc.cgroup_no_clone3 = job->cg_killed;
		cgroup_job_started(job);
	}
	sc.stdin_fd = spawn_devnull;
	sc.stdout_fd = sc.stderr_fd = -1;
	if (job->out_mode == OUTPUT_CAPTURE) {
		sc.stdout_fd = wfd[0];
		sc.stderr_fd = wfd[1];
	} else if (job->out_mode == OUTPUT_NULL)
		sc.stdout_fd = sc.stderr_fd = spawn_devnull;
	if ((pid = spawn_child_run(&sc, &step)) == -1) {
		spawn_failed(errno, spawn_child_step_name(step),
		    step == SPAWN_STEP_CHDIR ? job->cwd : path, cause, data);
		output_abort(job, wfd);
	} else
		output_started(job, wfd);
out:
	free(path);
	free(argv);
	free(envp);
	xfree_strv(owned);
	return (pid);
}

void
spawn_free(void)
{
	spawn_child_free();
	if (spawn_devnull != -1)
		close(spawn_devnull);
	spawn_devnull = -1;
	xfree_strv(spawn_base_env);
	spawn_base_env = NULL;
}
