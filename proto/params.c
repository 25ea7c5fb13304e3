/* SPDX-License-Identifier: ISC */
/*
 * Parameter checks driven by a table per method: unknown members, missing
 * members and wrong types are all refused here, before a method runs.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

static int
params_fail(char **cause, const char *name, const char *what)
{
	if (cause != NULL &&
	    asprintf(cause, "invalid params: '%s' %s", name, what) == -1)
		*cause = NULL;
	return (-1);
}

/* True if name is a valid job name (see start in procd-protocol(7)). */
int
proto_name_valid(const char *name)
{
	size_t		 len, i;
	int		 digits = 1;
	const char	*p;

	len = strlen(name);
	if (len == 0 || len > 64)
		return (0);
	for (i = 0; i < len; i++) {
		if (strchr("abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@:-", name[i]) ==
		    NULL || name[i] == '\0')
			return (0);
		if (name[i] < '0' || name[i] > '9')
			digits = 0;
	}
	if (digits)
		return (0);
	/* job-<digits> is how default names look. */
	if (strncmp(name, "job-", 4) == 0 && name[4] != '\0') {
		for (p = name + 4; *p >= '0' && *p <= '9'; p++)
			;
		if (*p == '\0')
			return (0);
	}
	return (1);
}

int
proto_states_mask(const json_t *v, char **cause)
{
	const json_t	*s;
	size_t		 i, n;
	int		 mask = 0, state;

	n = json_is_array(v) ? json_array_size(v) : 1;
	for (i = 0; i < n; i++) {
		s = json_is_array(v) ? json_array_get(v, i) : v;
		if (!json_is_string(s) ||
		    (state = proto_state_parse(json_string_value(s))) == -1) {
			params_fail(cause, "state", "must be running, stopping, "
			    "restarting, waiting or exited");
			return (-1);
		}
		mask |= 1 << state;
	}
	return (mask);
}

static int
params_is_job(const json_t *v)
{
	return (json_is_integer(v) || json_is_string(v));
}

static int
params_argv(const json_t *v)
{
	size_t	i;

	if (!json_is_array(v) || json_array_size(v) == 0)
		return (0);
	for (i = 0; i < json_array_size(v); i++) {
		if (!json_is_string(json_array_get(v, i)))
			return (0);
	}
	return (1);
}

static int
params_env(const json_t *v)
{
	const char	*key;
	json_t		*value;

	if (!json_is_object(v))
		return (0);
	json_object_foreach((json_t *)v, key, value) {
		if (*key == '\0' || strchr(key, '=') != NULL)
			return (0);
		if (!json_is_string(value) && !json_is_null(value))
			return (0);
	}
	return (1);
}

static int
params_jobs(const json_t *v)
{
	size_t	i;

	if (!json_is_array(v))
		return (0);
	for (i = 0; i < json_array_size(v); i++) {
		if (!params_is_job(json_array_get(v, i)))
			return (0);
	}
	return (1);
}

/* Checks one present, non-null member; returns what is wrong or NULL. */
static const char *
params_check_one(const json_t *v, enum proto_ptype type)
{
	double	d;

	switch (type) {
	case PROTO_P_JOB:
		return (params_is_job(v) ? NULL :
		    "must be a job id (integer) or name (string)");
	case PROTO_P_BOOL:
		return (json_is_boolean(v) ? NULL : "must be a boolean");
	case PROTO_P_SECONDS:
		d = json_number_value(v);
		return (json_is_number(v) && d >= 0 && d <= PROTO_MAX_SECONDS ?
		    NULL : "must be a number of seconds from 0 to 1e9");
	case PROTO_P_STRING:
		return (json_is_string(v) ? NULL : "must be a string");
	case PROTO_P_ARGV:
		return (params_argv(v) ? NULL :
		    "must be a non-empty array of strings");
	case PROTO_P_ENV:
		return (params_env(v) ? NULL : "must be an object of string "
		    "or null values with names that are not empty and hold "
		    "no '='");
	case PROTO_P_PATH:
		return (json_is_string(v) && json_string_value(v)[0] == '/' ?
		    NULL : "must be an absolute path");
	case PROTO_P_NAME:
		return (json_is_string(v) &&
		    proto_name_valid(json_string_value(v)) ? NULL :
		    "must be 1-64 characters of A-Za-z0-9._@:-, not all "
		    "digits and not job-<digits>");
	case PROTO_P_STATES:
		return (proto_states_mask(v, NULL) != -1 ? NULL :
		    "must be running, stopping, restarting, waiting or "
		    "exited, or an array of them");
	case PROTO_P_SIGNAL:
		return (proto_signal_parse(v) != -1 ? NULL :
		    "must be a signal number from 1 to 64 or a signal name");
	case PROTO_P_UINT:
		return (json_is_integer(v) && json_integer_value(v) >= 0 ?
		    NULL : "must be an integer >= 0");
	case PROTO_P_LOG_LIMIT:
		return (json_is_integer(v) && json_integer_value(v) >= 0 &&
		    json_integer_value(v) <= PROTO_MAX_LOG_LIMIT ? NULL :
		    "must be an integer from 0 to 1073741824 (1 GiB)");
	case PROTO_P_ACCOUNT:
		return ((json_is_string(v) && json_string_length(v) > 0) ||
		    (json_is_integer(v) && json_integer_value(v) >= 0) ? NULL :
		    "must be a name or a number >= 0");
	case PROTO_P_JOBS:
		return (params_jobs(v) ? NULL : "must be an array of job ids "
		    "or names");
	case PROTO_P_ANY:
		return (NULL);
	}
	return ("is of an unknown kind");
}

/* True if v is, or holds, a number too large to hold (see decode.c). */
static int
params_out_of_range(const json_t *v)
{
	const char	*key;
	json_t		*member;
	size_t		 i;

	if (proto_out_of_range(v))
		return (1);
	if (json_is_array(v)) {
		for (i = 0; i < json_array_size(v); i++) {
			if (params_out_of_range(json_array_get(v, i)))
				return (1);
		}
	}
	if (json_is_object(v)) {
		json_object_foreach((json_t *)v, key, member) {
			if (params_out_of_range(member))
				return (1);
		}
	}
	return (0);
}

/* The words param name of spec takes, or NULL for none or any string. */
const char *const *
proto_param_words(const struct proto_param *spec, const char *name)
{
	for (; spec->name != NULL; spec++) {
		if (strcmp(spec->name, name) == 0)
			return (spec->words);
	}
	return (NULL);
}

/*
 * Is v one of words? If not, *cause says which they are: "must be a, b
 * or c", as people write it.
 */
static int
params_word(const json_t *v, const struct proto_param *p, char **cause)
{
	const char *const	*w;
	char			 list[128];
	size_t			 len;

	for (w = p->words; *w != NULL; w++) {
		if (strcmp(*w, json_string_value(v)) == 0)
			return (0);
	}
	len = (size_t)snprintf(list, sizeof list, "must be");
	for (w = p->words; *w != NULL && len < sizeof list; w++) {
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s",
		    w == p->words ? " " : w[1] == NULL ? " or " : ", ", *w);
	}
	return (params_fail(cause, p->name, list));
}

int
proto_params_check(const json_t *params, const struct proto_param *spec,
    char **cause)
{
	const struct proto_param	*p;
	const char			*key, *wrong;
	json_t				*v;

	*cause = NULL;
	/*
	 * By name only, as the protocol says, even [] for a method that
	 * takes none: the message says what to send instead.
	 */
	if (params != NULL && !json_is_object(params)) {
		if (asprintf(cause, "invalid params: params must be an object "
		    "(by name)%s", spec->name == NULL ? "; this method takes "
		    "none: leave params out or send {}" : "") == -1)
			*cause = NULL;
		return (-1);
	}
	json_object_foreach((json_t *)params, key, v) {
		for (p = spec; p->name != NULL; p++) {
			if (strcmp(p->name, key) == 0)
				break;
		}
		if (p->name == NULL)
			return (params_fail(cause, key, "is not a known param"));
		if (params_out_of_range(v))
			return (params_fail(cause, key, "holds a number out of "
			    "range"));
	}
	for (p = spec; p->name != NULL; p++) {
		v = json_object_get(params, p->name);
		if (v == NULL || json_is_null(v)) {
			if (p->required)
				return (params_fail(cause, p->name,
				    "is required"));
			continue;
		}
		if ((wrong = params_check_one(v, p->type)) != NULL)
			return (params_fail(cause, p->name, wrong));
		if (p->words != NULL && params_word(v, p, cause) == -1)
			return (-1);
	}
	return (0);
}
