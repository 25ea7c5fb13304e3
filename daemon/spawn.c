/* SPDX-License-Identifier: ISC */
/*
 * Starting a worker. glibc's posix_spawn clones with CLONE_VFORK, so when
 * it returns the worker has exec'd or the exec error is in hand: start
 * answers with the truth, and a terminate sent right after it reaches a
 * process that already has default signal dispositions. The worker leads
 * its own session and process group, with an empty signal mask, default
 * dispositions, stdin on /dev/null and no fd beyond 0-2.
 */

#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define SPAWN_DEFAULT_PATH	"/usr/local/bin:/usr/bin:/bin"

extern char	**environ;

/* procd's environment without the variables meant for procd alone. */
static char	**spawn_base_env;
static size_t	  spawn_base_count;

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
}

/*
 * The worker's environment: the base, less the names env mentions, plus
 * env's string values. Only the strings built here go into *owned.
 */
static char **
spawn_env(const json_t *env, char ***owned)
{
	const char	*key, *eq;
	json_t		*value;
	char		**envp, **own;
	size_t		  i, n = 0, o = 0, extra;

	extra = json_object_size(env);
	envp = xcalloc(spawn_base_count + extra + 1, sizeof *envp);
	own = xcalloc(extra + 1, sizeof *own);
	for (i = 0; i < spawn_base_count; i++) {
		eq = strchr(spawn_base_env[i], '=');
		if (eq != NULL && env != NULL && json_object_getn(env,
		    spawn_base_env[i], eq - spawn_base_env[i]) != NULL)
			continue;
		envp[n++] = spawn_base_env[i];
	}
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

static int
spawn_check_cwd(const char *cwd)
{
	struct stat	sb;

	if (stat(cwd, &sb) == -1)
		return (-1);
	if (!S_ISDIR(sb.st_mode)) {
		errno = ENOTDIR;
		return (-1);
	}
	return (access(cwd, X_OK));
}

/*
 * Every signal, glibc's internal ones (SIGCANCEL and SIGSETXID, 32 and 33)
 * included: sigfillset leaves those out, and glibc's posix_spawn then sets
 * them to SIG_IGN in the child, which exec keeps. sigaddset refuses them,
 * so their bits are set directly (bit n - 1 is signal n).
 */
static void
spawn_all_signals(sigset_t *set)
{
	unsigned long	*bits = (unsigned long *)set;
	int		 sig;

	sigfillset(set);
	for (sig = 32; sig <= 33; sig++)
		bits[(sig - 1) / (8 * sizeof *bits)] |=
		    1UL << ((sig - 1) % (8 * sizeof *bits));
}

static int
spawn_attr(posix_spawnattr_t *attr, posix_spawn_file_actions_t *fa,
    const struct job *job, const int wfd[2])
{
	sigset_t	empty, all;

	sigemptyset(&empty);
	spawn_all_signals(&all);
	if (posix_spawnattr_init(attr) != 0)
		return (-1);
	if (posix_spawn_file_actions_init(fa) != 0) {
		posix_spawnattr_destroy(attr);
		return (-1);
	}
	posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(attr, &empty);
	posix_spawnattr_setsigdefault(attr, &all);
	posix_spawn_file_actions_addchdir_np(fa, job->cwd);
	posix_spawn_file_actions_addopen(fa, STDIN_FILENO, "/dev/null",
	    O_RDONLY, 0);
	if (job->out_mode == OUTPUT_CAPTURE) {
		posix_spawn_file_actions_adddup2(fa, wfd[0], STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(fa, wfd[1], STDERR_FILENO);
	} else if (job->out_mode == OUTPUT_NULL) {
		posix_spawn_file_actions_addopen(fa, STDOUT_FILENO,
		    "/dev/null", O_WRONLY, 0);
		posix_spawn_file_actions_addopen(fa, STDERR_FILENO,
		    "/dev/null", O_WRONLY, 0);
	}
	posix_spawn_file_actions_addclosefrom_np(fa, STDERR_FILENO + 1);
	return (0);
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
 * Spawns the worker for job with env applied. Returns its pid, or -1 with
 * *cause (the strerror text) and *data set.
 */
pid_t
spawn_job(struct job *job, const json_t *env, char **cause, json_t **data)
{
	posix_spawnattr_t		 attr;
	posix_spawn_file_actions_t	 fa;
	const char			*argv0;
	char				**argv, **envp, **owned, *path;
	size_t				  i, argc;
	pid_t				  pid;
	int				  error, wfd[2];

	if (spawn_check_cwd(job->cwd) == -1) {
		spawn_failed(errno, "chdir", job->cwd, cause, data);
		return (-1);
	}
	argc = json_array_size(job->argv);
	argv = xcalloc(argc + 1, sizeof *argv);
	for (i = 0; i < argc; i++)
		argv[i] = (char *)json_string_value(json_array_get(job->argv,
		    i));
	argv0 = argv[0];
	envp = spawn_env(env, &owned);
	if (strchr(argv0, '/') != NULL)
		path = xstrdup(argv0);
	else if ((path = spawn_search(argv0, envp, job->cwd)) == NULL) {
		spawn_failed(errno, "exec", argv0, cause, data);
		pid = -1;
		goto out;
	}
	if (output_pipes(job, wfd) == -1) {
		spawn_failed(errno, "pipe", path, cause, data);
		pid = -1;
		goto out;
	}
	if (spawn_attr(&attr, &fa, job, wfd) == -1) {
		spawn_failed(errno, "exec", path, cause, data);
		output_abort(job, wfd);
		pid = -1;
		goto out;
	}
	error = posix_spawn(&pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (error != 0) {
		spawn_failed(error, "exec", path, cause, data);
		output_abort(job, wfd);
		pid = -1;
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
	xfree_strv(spawn_base_env);
	spawn_base_env = NULL;
}
