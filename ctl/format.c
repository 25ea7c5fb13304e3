/* SPDX-License-Identifier: ISC */
/*
 * procctl's output for people: the list table, "key: value" blocks for a
 * job or procd itself, one-line summaries and event lines; also --json
 * lines. Odd values never crash it.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "procctl.h"

#define FORMAT_COLUMNS	12

/*
 * The job fields "status" shows first, in this order; others follow.
 * What the job is doing now comes next to its state, the exec failure
 * next to its exit code, the restart policy with its count and schedule.
 */
static const char *const format_job_order[] = {
	PROTO_F_ID, PROTO_F_NAME, PROTO_F_STATE, PROTO_F_READY,
	PROTO_F_STATUS_TEXT, PROTO_F_PID, PROTO_F_PPID, PROTO_F_PARENT,
	PROTO_F_CHILDREN, PROTO_F_DAEMON, PROTO_F_EXITCODE, PROTO_F_ERROR,
	PROTO_F_ARGV, PROTO_F_CWD, PROTO_F_UID, PROTO_F_GID, PROTO_F_USER,
	PROTO_F_STARTED_AT, PROTO_F_EXITED_AT, PROTO_F_USAGE, PROTO_F_RESTART,
	PROTO_F_RESTARTS, PROTO_F_RESTART_AT, PROTO_F_KILL_MODE, NULL
};

/*
 * Fields "status" leaves out while they are null: they only say anything
 * for a job with notify, an exec failure or a restart to come, and four
 * lines of "-" for every other job would bury what matters.
 */
static const char *const format_job_quiet[] = {
	PROTO_F_READY, PROTO_F_STATUS_TEXT, PROTO_F_ERROR, PROTO_F_RESTART_AT,
	NULL
};

/* The image's start and the reexec count sit by procd's first start. */
static const char *const format_info_order[] = {
	"version", "protocol", "pid", "uid", "started_at", "image_started_at",
	"reexecs", "socket", "jobs", NULL
};

/* Prints v as one compact JSON line on stdout. */
void
format_json(const json_t *v)
{
	char	*line;
	size_t	 len;

	if ((line = proto_encode(v, &len)) == NULL) {
		fprintf(stderr, "procctl: cannot encode the result\n");
		return;
	}
	fwrite(line, 1, len, stdout);
	free(line);
}

static const char *
format_str(const json_t *obj, const char *key)
{
	json_t	*v = json_object_get(obj, key);

	return (json_is_string(v) ? json_string_value(v) : NULL);
}

static long long
format_int(const json_t *obj, const char *key, long long dflt)
{
	json_t	*v = json_object_get(obj, key);

	return (json_is_integer(v) ? (long long)json_integer_value(v) : dflt);
}

/* "job 3 (web)". */
void
format_label(const json_t *job, char *buf, size_t len)
{
	const char	*name = format_str(job, PROTO_F_NAME);
	json_t		*id = json_object_get(job, PROTO_F_ID);

	if (json_is_integer(id))
		snprintf(buf, len, "job %lld (%s)",
		    (long long)json_integer_value(id), name ? name : "?");
	else
		snprintf(buf, len, "job %s", name ? name : "?");
}

/* An exit code for people: 0, 1, ... or a signal's name for -N. */
static void
format_code(long long code, char *buf, size_t len)
{
	const char	*name = NULL;

	if (code < 0 && code >= -64)
		name = proto_signal_name((int)-code);
	if (name != NULL)
		snprintf(buf, len, "SIG%s", name);
	else
		snprintf(buf, len, "%lld", code);
}

/* A job's exitcode as format_code has it; empty while there is none. */
void
format_exit(const json_t *job, char *buf, size_t len)
{
	json_t	*v = json_object_get(job, PROTO_F_EXITCODE);

	*buf = '\0';
	if (json_is_integer(v))
		format_code(json_integer_value(v), buf, len);
}

/* Reads an RFC 3339 UTC time as procd writes it; -1 if it is not one. */
time_t
format_parse_time(const char *s)
{
	struct tm	tm;
	int		n = 0;

	if (s == NULL)
		return (-1);
	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n == 0)
		return (-1);
	tm.tm_year -= 1900;
	tm.tm_mon--;
	return (timegm(&tm));
}

/* A length of time as "5s", "3m", "2h" or "1d". */
void
format_span(time_t age, char *buf, size_t len)
{
	if (age < 0)
		age = 0;
	if (age < 60)
		snprintf(buf, len, "%llds", (long long)age);
	else if (age < 3600)
		snprintf(buf, len, "%lldm", (long long)age / 60);
	else if (age < 86400)
		snprintf(buf, len, "%lldh", (long long)age / 3600);
	else
		snprintf(buf, len, "%lldd", (long long)age / 86400);
}

/*
 * How long ago s was (ago 1), or how long until it is (ago 0, for
 * restart_at), as format_span has it; empty if unknown.
 */
static void
format_age(const char *s, int ago, char *buf, size_t len)
{
	time_t	then;

	*buf = '\0';
	if ((then = format_parse_time(s)) != -1)
		format_span(ago ? time(NULL) - then : then - time(NULL), buf,
		    len);
}

/* The current time as procd writes times: 2026-11-26T21:45:54.123Z. */
void
format_now(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;
	char		sec[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03ldZ", sec, ts.tv_nsec / 1000000);
}

/* The words of an array of strings joined by spaces (argv, children). */
char *
format_words(const json_t *array)
{
	json_t	*v;
	char	*out, *s, *word;
	size_t	 i;

	out = xstrdup("");
	json_array_foreach(array, i, v) {
		if (json_is_string(v))
			word = xstrdup(json_string_value(v));
		else if (json_is_integer(v))
			xasprintf(&word, "%lld", (long long)json_integer_value(v));
		else if ((word = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) ==
		    NULL)
			word = xstrdup("?");
		xasprintf(&s, "%s%s%s", out, i == 0 ? "" : " ", word);
		free(word);
		free(out);
		out = s;
	}
	return (out);
}

/* "user 0.01s, system 0.00s, maxrss 1234 KiB". */
static char *
format_usage(const json_t *usage)
{
	json_t	*user, *sys, *rss;
	char	*s;

	user = json_object_get(usage, "user");
	sys = json_object_get(usage, "system");
	rss = json_object_get(usage, "maxrss");
	if (!json_is_number(user) || !json_is_number(sys) ||
	    !json_is_integer(rss))
		return (NULL);
	xasprintf(&s, "user %.2fs, system %.2fs, maxrss %lld KiB",
	    json_number_value(user), json_number_value(sys),
	    (long long)json_integer_value(rss));
	return (s);
}

/* "running 2, stopping 0, waiting 0, exited 1". */
static char *
format_counts(const json_t *counts)
{
	const char	*key;
	json_t		*v;
	char		*out, *s;

	out = xstrdup("");
	json_object_foreach((json_t *)counts, key, v) {
		if (!json_is_integer(v)) {
			free(out);
			return (NULL);
		}
		xasprintf(&s, "%s%s%s %lld", out, *out == '\0' ? "" : ", ",
		    key, (long long)json_integer_value(v));
		free(out);
		out = s;
	}
	return (out);
}

/* A field that reads better than its JSON, or NULL to show it plainly. */
static char *
format_special(const char *key, const json_t *v)
{
	char	*s, buf[64], name[64];
	int	 ago;

	if (strcmp(key, PROTO_F_EXITCODE) == 0 && json_is_integer(v) &&
	    json_integer_value(v) < 0) {
		format_code(json_integer_value(v), name, sizeof name);
		if (strncmp(name, "SIG", 3) != 0)
			return (NULL);
		xasprintf(&s, "%lld (%s)", (long long)json_integer_value(v),
		    name);
		return (s);
	}
	ago = strcmp(key, PROTO_F_STARTED_AT) == 0 ||
	    strcmp(key, PROTO_F_EXITED_AT) == 0 ||
	    strcmp(key, "image_started_at") == 0;
	if ((ago || strcmp(key, PROTO_F_RESTART_AT) == 0) &&
	    json_is_string(v)) {
		format_age(json_string_value(v), ago, buf, sizeof buf);
		if (*buf == '\0')
			return (NULL);
		xasprintf(&s, ago ? "%s (%s ago)" : "%s (in %s)",
		    json_string_value(v), buf);
		return (s);
	}
	if (strcmp(key, PROTO_F_USAGE) == 0 && json_is_object(v))
		return (format_usage(v));
	if (strcmp(key, "jobs") == 0 && json_is_object(v))
		return (format_counts(v));
	return (NULL);
}

/* One value of a key: value block, as text; the caller frees it. */
static char *
format_value(const char *key, const json_t *v)
{
	char	*s;

	if ((s = format_special(key, v)) != NULL)
		return (s);
	if (json_is_null(v))
		return (xstrdup("-"));
	if (json_is_string(v))
		return (xstrdup(json_string_value(v)));
	if (json_is_boolean(v))
		return (xstrdup(json_is_true(v) ? "yes" : "no"));
	if (json_is_integer(v)) {
		xasprintf(&s, "%lld", (long long)json_integer_value(v));
		return (s);
	}
	if (json_is_real(v)) {
		xasprintf(&s, "%g", json_real_value(v));
		return (s);
	}
	if (json_is_array(v))
		return (json_array_size(v) == 0 ? xstrdup("-") :
		    format_words(v));
	if ((s = json_dumps(v, JSON_COMPACT)) == NULL)
		return (xstrdup("?"));
	return (s);
}

static int
format_listed(const char *const *order, const char *key)
{
	for (; *order != NULL; order++) {
		if (strcmp(*order, key) == 0)
			return (1);
	}
	return (0);
}

/* Whether "key: value" is worth a line; quiet is NULL or a list. */
static int
format_shown(const char *const *quiet, const char *key, const json_t *v)
{
	return (quiet == NULL || !json_is_null(v) ||
	    !format_listed(quiet, key));
}

static void
format_field(const char *key, const json_t *v, int width)
{
	char	*text;

	text = format_value(key, v);
	printf("%s:%*s %s\n", key, width - (int)strlen(key), "", text);
	free(text);
}

/*
 * Prints an object as "key: value" lines, the fields in order first and
 * then any others it has, so fields procd adds later still show; fields
 * in quiet only when they are not null.
 */
static void
format_fields(const json_t *obj, const char *const *order,
    const char *const *quiet)
{
	const char	*key;
	json_t		*v;
	int		 width = 0;
	size_t		 i;

	if (!json_is_object(obj)) {
		format_json(obj);
		return;
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (format_shown(quiet, key, v) && (int)strlen(key) > width)
			width = (int)strlen(key);
	}
	for (i = 0; order[i] != NULL; i++) {
		if ((v = json_object_get(obj, order[i])) != NULL &&
		    format_shown(quiet, order[i], v))
			format_field(order[i], v, width);
	}
	json_object_foreach((json_t *)obj, key, v) {
		if (!format_listed(order, key) && format_shown(quiet, key, v))
			format_field(key, v, width);
	}
}

void
format_job(const json_t *job)
{
	format_fields(job, format_job_order, format_job_quiet);
}

void
format_info(const json_t *info)
{
	format_fields(info, format_info_order, NULL);
}

/* "procd replaced its image: 0.1.0 -> 0.1.1 (pid 1234)". */
void
format_reexec(const json_t *result)
{
	const char	*old = format_str(result, "previous_version");
	const char	*new = format_str(result, "version");

	printf("procd replaced its image: %s -> %s (pid %lld)\n",
	    old != NULL ? old : "?", new != NULL ? new : "?",
	    format_int(result, "pid", -1));
}

/* "started job 3 (web) pid 1234", and ", ready" after --wait-ready. */
void
format_start(const json_t *job)
{
	char	label[128];

	format_label(job, label, sizeof label);
	printf("started %s pid %lld%s\n", label,
	    format_int(job, PROTO_F_PID, -1),
	    json_is_true(json_object_get(job, PROTO_F_READY)) ? ", ready" : "");
}

/* 1 if the job has a restart policy, which terminate and kill end. */
static int
format_restarts(const json_t *job)
{
	const char	*policy = format_str(job, PROTO_F_RESTART);

	return (policy != NULL && strcmp(policy, "no") != 0);
}

/* Says how a joined job ended; returns the exit status procctl gives. */
int
format_join(const json_t *job)
{
	const char	*state = format_str(job, PROTO_F_STATE);
	char		 label[128], sig[64];
	json_t		*code = json_object_get(job, PROTO_F_EXITCODE);

	format_label(job, label, sizeof label);
	if (json_is_true(json_object_get(job, PROTO_F_TIMED_OUT)))
		printf("timed out waiting for %s (state %s)\n", label,
		    state ? state : "?");
	else if (json_is_integer(code) && json_integer_value(code) < 0) {
		format_exit(job, sig, sizeof sig);
		printf("%s was killed by signal %lld (%s)\n", label,
		    -(long long)json_integer_value(code), sig);
	} else if (json_is_integer(code))
		printf("%s exited with status %lld\n", label,
		    (long long)json_integer_value(code));
	else
		printf("%s has not exited (state %s)\n", label,
		    state ? state : "?");
	return (proto_job_exit_status(job));
}

/* After terminate or kill: "terminating job 3 (web) pid 1234". */
void
format_stop(const json_t *job, const char *verb, int recursive)
{
	char	label[128], code[64];

	format_label(job, label, sizeof label);
	if (recursive)
		printf("%s %s and its descendants\n", verb, label);
	else if (json_is_integer(json_object_get(job, PROTO_F_EXITCODE))) {
		/* Restarting, say: no signal, but no restart either. */
		format_exit(job, code, sizeof code);
		printf("%s had already exited (%s); nothing sent%s\n", label,
		    code, format_restarts(job) ? ", no restart follows" : "");
	} else
		printf("%s %s pid %lld\n", verb, label,
		    format_int(job, PROTO_F_PID, -1));
}

/* After signal: "sent SIGHUP to job 3 (web) pid 1234". */
void
format_signal(const json_t *job, const char *sig, int group)
{
	char	label[128], code[64];

	format_label(job, label, sizeof label);
	if (json_is_integer(json_object_get(job, PROTO_F_EXITCODE))) {
		format_exit(job, code, sizeof code);
		printf("%s had already exited (%s); nothing sent\n", label,
		    code);
	} else
		printf("sent %s to %s%s %lld\n", sig, label,
		    group ? " process group" : " pid",
		    format_int(job, PROTO_F_PID, -1));
}

/* A string field as a cell; empty when the job has none. */
static char *
format_cell_str(const json_t *job, const char *key)
{
	const char	*s = format_str(job, key);

	return (xstrdup(s != NULL ? s : ""));
}

/* An integer field as a cell; none when the job has none. */
char *
format_cell_int(const json_t *job, const char *key, const char *none)
{
	json_t	*v = json_object_get(job, key);
	char	*s;

	if (!json_is_integer(v))
		return (xstrdup(none));
	xasprintf(&s, "%lld", (long long)json_integer_value(v));
	return (s);
}

/* READY: yes or no for a job with notify, "-" for one without (null). */
static char *
format_cell_ready(const json_t *job)
{
	json_t	*v = json_object_get(job, PROTO_F_READY);

	if (!json_is_boolean(v))
		return (xstrdup("-"));
	return (xstrdup(json_is_true(v) ? "yes" : "no"));
}

/* The cells of one list row, in the order of format_list's header. */
static void
format_row(const json_t *job, char **cells)
{
	char	 buf[64];

	cells[0] = format_cell_int(job, PROTO_F_ID, "");
	cells[1] = format_cell_str(job, PROTO_F_NAME);
	/* The owner's name, or its uid when it has none. */
	if (format_str(job, PROTO_F_USER) != NULL)
		cells[2] = format_cell_str(job, PROTO_F_USER);
	else
		cells[2] = format_cell_int(job, PROTO_F_UID, "");
	cells[3] = format_cell_int(job, PROTO_F_PID, "");
	cells[4] = format_cell_str(job, PROTO_F_STATE);
	cells[5] = format_cell_ready(job);
	format_exit(job, buf, sizeof buf);
	cells[6] = xstrdup(buf);
	cells[7] = format_cell_int(job, PROTO_F_RESTARTS, "");
	cells[8] = format_cell_int(job, PROTO_F_PARENT, "");
	cells[9] = xstrdup(json_is_true(json_object_get(job,
	    PROTO_F_DAEMON)) ? "yes" : "no");
	format_age(format_str(job, PROTO_F_STARTED_AT), 1, buf, sizeof buf);
	cells[10] = xstrdup(buf);
	cells[11] = format_words(json_object_get(job, PROTO_F_ARGV));
}

/*
 * The jobs as a ps-like table, columns as wide as their widest cell.
 * READY sits by STATE, whose word it qualifies; RESTARTS by EXIT, the
 * last process's status.
 */
void
format_list(const json_t *jobs)
{
	static const char *const header[FORMAT_COLUMNS] = {
		"ID", "NAME", "USER", "PID", "STATE", "READY", "EXIT",
		"RESTARTS", "PARENT", "DAEMON", "AGE", "COMMAND"
	};
	/* Numbers line up on the right, as in ps. */
	static const int right[FORMAT_COLUMNS] = { 1, 0, 0, 1, 0, 0, 0, 1, 1,
	    0, 1, 0 };
	json_t	 *job;
	char	**cells;
	int	  width[FORMAT_COLUMNS], c, w;
	size_t	  n, i;

	cells = xcalloc(json_array_size(jobs) + 1,
	    FORMAT_COLUMNS * sizeof *cells);
	for (c = 0; c < FORMAT_COLUMNS; c++) {
		cells[c] = xstrdup(header[c]);
		width[c] = (int)strlen(header[c]);
	}
	n = 0;
	json_array_foreach(jobs, i, job) {
		if (json_is_object(job))
			format_row(job, cells + ++n * FORMAT_COLUMNS);
	}
	for (i = 0; i <= n; i++) {
		for (c = 0; c < FORMAT_COLUMNS; c++) {
			w = (int)strlen(cells[i * FORMAT_COLUMNS + c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	for (i = 0; i <= n; i++) {
		for (c = 0; c < FORMAT_COLUMNS; c++) {
			if (c == FORMAT_COLUMNS - 1)
				printf("%s\n", cells[i * FORMAT_COLUMNS + c]);
			else
				printf("%*s  ", right[c] ? width[c] : -width[c],
				    cells[i * FORMAT_COLUMNS + c]);
			free(cells[i * FORMAT_COLUMNS + c]);
		}
	}
	free(cells);
}

/*
 * One line per event: the time procctl saw it, seq, event, job id, name,
 * state and exit ("-" while none), or the range a gap lost.
 */
void
format_event(const json_t *params)
{
	const char	*event = format_str(params, "event");
	json_t		*job = json_object_get(params, "job");
	char		 now[64], code[64];
	const char	*name, *state;

	format_now(now, sizeof now);
	if (event != NULL && strcmp(event, "gap") == 0) {
		printf("%s %lld gap events %lld to %lld were lost\n", now,
		    format_int(params, "seq", 0), format_int(params, "from", 0),
		    format_int(params, "to", 0));
		return;
	}
	format_exit(job, code, sizeof code);
	name = format_str(job, PROTO_F_NAME);
	state = format_str(job, PROTO_F_STATE);
	printf("%s %lld %s %lld %s %s %s\n", now, format_int(params, "seq", 0),
	    event ? event : "?", format_int(job, PROTO_F_ID, 0),
	    name ? name : "?", state ? state : "?", *code ? code : "-");
}
