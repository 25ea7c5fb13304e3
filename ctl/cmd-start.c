/* SPDX-License-Identifier: ISC */
/*
 * procctl start: the params of a new job (shared with run) and the start
 * itself, with --wait a join after it.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto.h"
#include "procctl.h"

static int	cmd_start_exec(struct procctl *);

const struct procctl_command cmd_start_entry = {
	"start",
	SPAWN_SYNOPSIS " [--wait]\n[--] CMD [ARG...]",
	"Start CMD as a new job and print its id.\n"
	"  --name N          name the job (default job-ID)\n" SPAWN_HELP
	"  --wait            then wait for it as join does\n",
	OPT_COMMON | OPT_SPAWN | OPT(OPT_WAIT), "CMD", -1, 1,
	cmd_start_exec
};

/* A user or group option: all digits is an id, anything else a name. */
static void
cmd_start_set_account(json_t *params, const char *key, const char *value)
{
	if (value == NULL)
		return;
	if (value[strspn(value, "0123456789")] == '\0' &&
	    strlen(value) < 10)
		json_object_set_new(params, key, json_integer(atoll(value)));
	else
		json_object_set_new(params, key, json_string(value));
}

/* Sets key to a copy of v, if the option was given. */
static void
cmd_start_set_value(json_t *params, const char *key, json_t *v)
{
	if (v != NULL)
		json_object_set(params, key, v);
}

static void
cmd_start_set_word(json_t *params, const char *key, const char *word)
{
	if (word != NULL)
		json_object_set_new(params, key, json_string(word));
}

/*
 * The rules between the supervision options, which procd would refuse
 * too: caught here they are usage errors, before anything starts.
 * restart_max_delay is compared with restart_delay's default when only
 * it is given, as procd does, and only with a restart policy: without
 * one procd takes the delays and ignores them.
 */
static int
cmd_start_supervise_check(struct procctl *ctl)
{
	struct procctl_args	*args = &ctl->args;
	double			 delay = PROTO_RESTART_DELAY;

	if (args->wait_ready && !args->notify) {
		procctl_usage_error(ctl, "--wait-ready needs --notify");
		return (-1);
	}
	if (args->ready_timeout != NULL && !args->wait_ready) {
		procctl_usage_error(ctl, "--ready-timeout needs --wait-ready");
		return (-1);
	}
	if (args->restart_delay != NULL)
		delay = json_number_value(args->restart_delay);
	if (args->restart != NULL && strcmp(args->restart, "no") != 0 &&
	    args->restart_max_delay != NULL &&
	    json_number_value(args->restart_max_delay) < delay) {
		procctl_usage_error(ctl, "--restart-max-delay: less than the "
		    "restart delay (%g s)", delay);
		return (-1);
	}
	return (0);
}

/* The params of protocol sections 10-12: restarts, readiness, kill mode. */
static void
cmd_start_set_supervise(json_t *params, const struct procctl_args *args)
{
	cmd_start_set_word(params, "restart", args->restart);
	cmd_start_set_value(params, "restart_delay", args->restart_delay);
	cmd_start_set_value(params, "restart_max_delay",
	    args->restart_max_delay);
	if (args->restart_limit >= 0)
		json_object_set_new(params, "restart_limit",
		    json_integer(args->restart_limit));
	cmd_set_flag(params, "notify", args->notify);
	cmd_set_flag(params, "wait_ready", args->wait_ready);
	cmd_start_set_value(params, "ready_timeout", args->ready_timeout);
	cmd_start_set_word(params, "kill_mode", args->kill_mode);
}

/*
 * The job's working folder: --cwd (a relative one is taken from here) or
 * procctl's own. *out stays NULL when there is no folder to send.
 */
static int
cmd_start_cwd(const char *opt, char **out)
{
	char	*here;

	*out = NULL;
	if (opt != NULL && *opt == '/') {
		*out = xstrdup(opt);
		return (0);
	}
	if ((here = getcwd(NULL, 0)) == NULL) {
		if (opt != NULL) {
			fprintf(stderr, "procctl: cannot resolve --cwd %s: "
			    "%s\n", opt, strerror(errno));
			return (-1);
		}
		/* procd then starts the job in "/", which it says. */
		fprintf(stderr, "procctl: cannot find the current folder: %s\n",
		    strerror(errno));
		return (0);
	}
	if (opt == NULL) {
		*out = here;
		return (0);
	}
	if ((*out = realpath(opt, NULL)) == NULL)
		xasprintf(out, "%s/%s", here, opt);
	free(here);
	return (0);
}

/* The params of start (and run); NULL with *status when they cannot be. */
json_t *
cmd_spawn_params(struct procctl *ctl, int *status)
{
	struct procctl_args	*args = &ctl->args;
	json_t			*params, *argv, *v;
	char			*cwd;
	int			 i;

	if (cmd_start_supervise_check(ctl) == -1) {
		*status = PROCCTL_EXIT_USAGE;
		return (NULL);
	}
	params = json_object();
	argv = json_array();
	json_object_set_new(params, "argv", argv);
	for (i = 0; i < args->noperands; i++) {
		if ((v = procctl_string(ctl, args->operands[i])) == NULL)
			goto usage;
		json_array_append_new(argv, v);
	}
	if (args->name != NULL)
		json_object_set_new(params, "name", json_string(args->name));
	cmd_set_flag(params, "daemon", args->daemon);
	if (args->parent != NULL)
		json_object_set(params, "parent", args->parent);
	if (args->env != NULL)
		json_object_set(params, "env", args->env);
	if (args->stop_timeout != NULL)
		json_object_set(params, "stop_timeout", args->stop_timeout);
	cmd_start_set_account(params, "user", args->user);
	cmd_start_set_account(params, "group", args->as_group);
	cmd_start_set_supervise(params, args);

	/* procctl's own folder means nothing on the host of --host. */
	if (args->host != NULL && args->cwd != NULL && *args->cwd != '/') {
		procctl_usage_error(ctl, "--cwd: with --host, give an absolute "
		    "path on that host: %s", args->cwd);
		goto usage;
	}
	if (args->host != NULL)
		cwd = args->cwd != NULL ? xstrdup(args->cwd) : NULL;
	else if (cmd_start_cwd(args->cwd, &cwd) == -1) {
		json_decref(params);
		*status = PROCCTL_EXIT_ERROR;
		return (NULL);
	}
	if (cwd != NULL) {
		v = procctl_string(ctl, cwd);
		free(cwd);
		if (v == NULL)
			goto usage;
		json_object_set_new(params, "cwd", v);
	}
	return (params);

usage:
	json_decref(params);
	*status = PROCCTL_EXIT_USAGE;
	return (NULL);
}

static int
cmd_start_exec(struct procctl *ctl)
{
	json_t	*params, *job, *id;
	int	 status;

	if ((params = cmd_spawn_params(ctl, &status)) == NULL)
		return (status);
	if ((job = procctl_call(ctl, "start", params)) == NULL)
		return (PROCCTL_EXIT_ERROR);
	if (ctl->args.json)
		format_json(job);
	else
		format_start(job);
	if (!ctl->args.wait) {
		json_decref(job);
		return (PROCCTL_EXIT_OK);
	}

	id = json_object_get(job, PROTO_F_ID);
	if (!json_is_integer(id)) {
		json_decref(job);
		cmd_invalid();
		return (PROCCTL_EXIT_ERROR);
	}
	params = json_object();
	json_object_set(params, "job", id);
	json_decref(job);
	/* Whoever watches should see the start before the long wait. */
	fflush(stdout);
	return (cmd_joined(ctl, procctl_call(ctl, "join", params)));
}
