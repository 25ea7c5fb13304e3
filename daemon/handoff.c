/* SPDX-License-Identifier: ISC */
/*
 * The state a reexec hands from one program image to the next, written
 * (handoff_save) and read (handoff_load) side by side in this one file:
 * a field added to one and not the other shows up in review here.
 *
 * The state is one JSON document, format HANDOFF_FORMAT, in a memfd. It
 * names the fds that stay open across execve: listening sockets, client
 * sockets, output pipes, the notify socket, cgroup folders and files.
 * Timers go as the time they had left. logs answers half built are
 * finished before saving (client_quiesce); a batch half run goes as the
 * requests it has not run yet, as they were sent; a client's unread input
 * and unwritten output go as bytes.
 *
 * Reading trusts nothing. The check (hc_*) walks the whole document, each
 * field's type and range, every reference between its parts, that every
 * parked request can still be answered, and (live) every fd it names and
 * that every job's process is procd's child, before the takeover (ha_*)
 * takes any of it; the takeover cannot fail half way. A document the
 * check refuses is never served from.
 */

#include "config.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define HANDOFF_MAX_SIZE	(4LL * 1024 * 1024 * 1024)
#define HANDOFF_MAX_FDS		(1 << 20)
#define HANDOFF_MAX_SECONDS	1e9
#define HANDOFF_UINT_MAX	((long long)UINT_MAX)
/* A client's unread input: a line at most, and what one read added. */
#define HANDOFF_INPUT_SLACK	(1024 * 1024)

/* The client flags that carry over; the others are the loop's own. */
#define HANDOFF_CLIENT_FLAGS	(CLIENT_EOF | CLIENT_CLOSING | CLIENT_DISCARD)
/* The job flags, all of which carry over. */
#define HANDOFF_JOB_FLAGS	(JOB_REAPED | JOB_KILLED | JOB_STOP_ASKED | \
				 JOB_EXITED_ONCE)

/* What a parked request waits for. */
static const char *const handoff_kinds[] = {
	"join", "follow", "ready", "reexec", NULL
};
enum handoff_kind { KIND_JOIN, KIND_FOLLOW, KIND_READY, KIND_REEXEC };

/* The formats this program reads (printed by procd --handoff-formats). */
const char *const handoff_formats[] = { HANDOFF_FORMAT, NULL };

/* ---- writing ---------------------------------------------------------- */

struct handoff_writer {
	json_t	*fds;		/* every fd the document names */
};

static json_t *
hs_fd(struct handoff_writer *w, int fd)
{
	if (fd != -1)
		json_array_append_new(w->fds, json_integer(fd));
	return (json_integer(fd));
}

static json_t *
hs_time(const struct timespec *ts)
{
	return (json_pack("[I,I]", (json_int_t)ts->tv_sec,
	    (json_int_t)ts->tv_nsec));
}

/* A pending timer's time left in seconds, or null. */
static json_t *
hs_left(struct event *ev)
{
	struct timeval	at, now;
	double		left;

	if (ev == NULL || !evtimer_pending(ev, &at))
		return (json_null());
	gettimeofday(&now, NULL);
	left = (at.tv_sec - now.tv_sec) + (at.tv_usec - now.tv_usec) / 1e6;
	return (json_real(left > 0 ? left : 0));
}

static json_t *
hs_bytes(const void *data, size_t len)
{
	json_t	*s;
	char	*text;
	size_t	 n;

	text = xmalloc(proto_base64_bound(len) + 1);
	n = proto_base64_encode(data, len, text);
	s = json_stringn(text, n);
	free(text);
	return (s);
}

static json_t *
hs_buffer(struct evbuffer *b)
{
	size_t	len = evbuffer_get_length(b);

	return (hs_bytes(len > 0 ? evbuffer_pullup(b, -1) : (void *)"", len));
}

/* A value kept as JSON text (error, status_text): its string. */
static json_t *
hs_text(const char *json)
{
	json_t	*v;

	if (json == NULL)
		return (json_null());
	if ((v = json_loads(json, JSON_DECODE_ANY, NULL)) == NULL)
		fatalx("%s: cannot read back %s", __func__, json);
	return (v);
}

static void
hs_record(int stream, const char *data, size_t len, void *arg)
{
	json_array_append_new(arg, json_pack("[i,o]", stream,
	    hs_bytes(data, len)));
}

static json_t *
hs_job(struct handoff_writer *w, struct job *job)
{
	json_t	*o, *records, *groups;
	size_t	 i;

	records = json_array();
	logbuf_each(&job->log, hs_record, records);
	groups = json_array();
	for (i = 0; i < job->creds.ngroups; i++)
		json_array_append_new(groups, json_integer(job->creds.groups[i]));
	o = json_pack("{s:I, s:s, s:O, s:s, s:I, s:I, s:I, s:b, s:f, s:s, "
	    "s:i, s:i, s:o, s:f, s:o, s:[I,I,I], s:o, s:o}",
	    "id", (json_int_t)job->id,
	    "name", job->name,
	    "argv", job->argv,
	    "cwd", job->cwd,
	    "pid", (json_int_t)job->pid,
	    "uid", (json_int_t)job->uid,
	    "gid", (json_int_t)job->gid,
	    "daemon", job->daemon,
	    "stop_timeout", job->stop_timeout,
	    "state", proto_state_name(job->state),
	    "exitcode", job->exitcode,
	    "flags", job->flags,
	    "started_at", hs_time(&job->started_at),
	    "ran", time_since(CLOCK_MONOTONIC, &job->started_mono),
	    "exited_at", hs_time(&job->exited_at),
	    "usage",
		(json_int_t)(job->usage.ru_utime.tv_sec * 1000000LL +
		    job->usage.ru_utime.tv_usec),
		(json_int_t)(job->usage.ru_stime.tv_sec * 1000000LL +
		    job->usage.ru_stime.tv_usec),
		(json_int_t)job->usage.ru_maxrss,
	    "kill_left", hs_left(job->kill_timer),
	    "error", hs_text(job->error_text));
	json_object_set(o, "env", job->env != NULL ? job->env : json_null());
	json_object_set_new(o, "creds", json_pack("{s:b, s:o}", "change",
	    job->creds.change, "groups", groups));
	json_object_set_new(o, "restart", json_pack("{s:s, s:f, s:f, s:f, "
	    "s:I, s:I, s:o, s:o, s:b}",
	    "policy", jobstate_policy_name(job->restart_policy),
	    "delay", job->restart_delay,
	    "max_delay", job->restart_max_delay,
	    "last_delay", job->restart_last_delay,
	    "limit", (json_int_t)job->restart_limit,
	    "count", (json_int_t)job->restarts,
	    "at", hs_time(&job->restart_at),
	    "left", hs_left(job->restart_timer),
	    "due", job->restart_due));
	json_object_set_new(o, "ready", json_pack("{s:b, s:b, s:o, s:o}",
	    "notify", job->notify, "ready", job->ready,
	    "status", hs_text(job->status_text),
	    "left", hs_left(job->ready_timer)));
	json_object_set_new(o, "tree", !job->tree ? json_null() :
	    json_pack("{s:o, s:o, s:o, s:b, s:b, s:[I,I]}",
	    "fd", hs_fd(w, job->cg_fd),
	    "events", hs_fd(w, job->cg_events),
	    "kill", hs_fd(w, job->cg_kill),
	    "waiting", job->cg_waiting,
	    "killed", job->cg_killed,
	    "base", (json_int_t)job->cg_user_base,
	    (json_int_t)job->cg_system_base));
	json_object_set_new(o, "parent", json_integer(job->parent_id));
	json_object_set_new(o, "output", json_pack("{s:i, s:[o,o], s:o, "
	    "s:I, s:b, s:o}",
	    "mode", job->out_mode,
	    "fds", hs_fd(w, job->out_fd[0]), hs_fd(w, job->out_fd[1]),
	    "grace_left", hs_left(job->out_grace),
	    "limit", (json_int_t)job->log.limit,
	    "truncated", job->log.truncated,
	    "records", records));
	return (o);
}

static json_t *
hs_utf8(const struct proto_utf8 *u)
{
	return (hs_bytes(u->seq, u->have));
}

static enum handoff_kind
hs_kind(const struct request *req)
{
	if (req->method == &method_reexec_entry)
		return (KIND_REEXEC);
	if (req->method == &method_logs_entry)
		return (KIND_FOLLOW);
	if (req->method == &method_start_entry)
		return (KIND_READY);
	return (KIND_JOIN);
}

static json_t *
hs_request(struct request *req, json_t *batches)
{
	json_t	*o;
	size_t	 i;
	int	 batch = -1;

	if (req->batch != NULL) {
		for (i = 0; i < json_array_size(batches); i++) {
			if (json_integer_value(json_array_get(batches, i)) ==
			    (json_int_t)(intptr_t)req->batch)
				batch = i;
		}
		if (batch == -1) {
			batch = json_array_size(batches);
			json_array_append_new(batches,
			    json_integer((intptr_t)req->batch));
		}
	}
	o = json_pack("{s:s, s:b, s:O, s:I, s:o, s:i}",
	    "kind", handoff_kinds[hs_kind(req)],
	    "notification", req->id == NULL,
	    "id", req->id != NULL ? req->id : json_null(),
	    "job", (json_int_t)(req->job != NULL ? req->job->id : 0),
	    "left", hs_left(req->timer),
	    "batch", batch);
	if (hs_kind(req) == KIND_FOLLOW)
		json_object_set_new(o, "follow", json_pack("{s:i, s:b, s:b, "
		    "s:[o,o]}", "streams", req->follow_streams,
		    "base64", req->follow_base64,
		    "truncated", req->follow_truncated, "utf8",
		    hs_utf8(&req->follow_utf8[0]),
		    hs_utf8(&req->follow_utf8[1])));
	return (o);
}

static void
hs_subscription(long long id, const long long *ids, size_t n,
    long long next, void *arg)
{
	json_t	*only = json_null();
	size_t	 i;

	if (ids != NULL) {
		only = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(only, json_integer(ids[i]));
	}
	json_array_append_new(arg, json_pack("[I,o,I]", (json_int_t)id, only,
	    (json_int_t)next));
}

/*
 * A batch's answers so far and, for the one still running, the requests
 * it has not run yet, as they were sent.
 */
static json_t *
hs_batch(struct client *c, struct batch *b)
{
	const struct proto_request	*pr;
	json_t				*rest = json_null(), *e;
	size_t				 i;

	if (b == c->batch && b->next < b->msg.nrequests) {
		rest = json_array();
		for (i = b->next; i < b->msg.nrequests; i++) {
			pr = &b->msg.requests[i];
			e = json_object();
			if (pr->error != 0) {
				json_object_set_new(e, "error",
				    json_integer(pr->error));
				json_object_set_new(e, "message",
				    json_string(pr->message));
			} else {
				json_object_set_new(e, "method",
				    json_string(pr->method));
				if (pr->params != NULL)
					json_object_set(e, "params",
					    pr->params);
			}
			if (pr->id != NULL)
				json_object_set(e, "id", pr->id);
			json_array_append_new(rest, e);
		}
	}
	return (json_pack("{s:o, s:o}", "out", hs_buffer(b->out), "rest",
	    rest));
}

static json_t *
hs_client(struct handoff_writer *w, struct client *c)
{
	struct request	*req;
	json_t		*o, *requests, *subs, *batches, *outs;
	size_t		 i;

	requests = json_array();
	batches = json_array();		/* pointers, for numbering */
	if (c->batch != NULL)
		json_array_append_new(batches,
		    json_integer((intptr_t)c->batch));
	TAILQ_FOREACH(req, &c->requests, client_entry)
		json_array_append_new(requests, hs_request(req, batches));
	outs = json_array();
	for (i = 0; i < json_array_size(batches); i++)
		json_array_append_new(outs, hs_batch(c,
		    (struct batch *)(intptr_t)json_integer_value(
		    json_array_get(batches, i))));
	json_decref(batches);
	subs = json_array();
	feed_handoff_subscriptions(c, hs_subscription, subs);
	o = json_pack("{s:o, s:I, s:i, s:I, s:o, s:o, s:o, s:o, s:o}",
	    "fd", hs_fd(w, bufferevent_getfd(c->bev)),
	    "id", (json_int_t)c->id,
	    "flags", c->flags & HANDOFF_CLIENT_FLAGS,
	    "discarded", (json_int_t)c->discarded,
	    "in", hs_buffer(bufferevent_get_input(c->bev)),
	    "out", hs_buffer(bufferevent_get_output(c->bev)),
	    "batches", outs,
	    "requests", requests,
	    "subscriptions", subs);
	return (o);
}

/* An event's job object goes as the text it was sent as: no parse. */
static void
hs_event(long long seq, const char *type, long long job_id, uid_t owner,
    const char *job, void *arg)
{
	json_array_append_new(arg, json_pack("[I,s,I,I,s]", (json_int_t)seq,
	    type, (json_int_t)job_id, (json_int_t)owner, job));
}

static json_t *
hs_document(struct handoff_writer *w)
{
	struct listen_handoff	 lh;
	struct cgroup_handoff	 ch;
	struct job		*job;
	struct client		*c;
	json_t			*doc, *jlist, *clist, *events, *sockets;
	long long		 seq, next_sub;
	int			 i;

	listen_handoff_get(&lh);
	sockets = json_array();
	for (i = 0; i < lh.nfds; i++)
		json_array_append_new(sockets, hs_fd(w, lh.fds[i]));
	cgroup_handoff_get(&ch);
	feed_handoff_get(&seq, &next_sub);
	events = json_array();
	feed_handoff_each(hs_event, events);
	jlist = json_array();
	TAILQ_FOREACH(job, &jobs, entry)
		json_array_append_new(jlist, hs_job(w, job));
	clist = json_array();
	TAILQ_FOREACH(c, &clients, entry)
		json_array_append_new(clist, hs_client(w, c));
	doc = json_pack("{s:s, s:s, s:I, s:o, s:o, s:I, s:s?, s:[I,I]}",
	    "format", HANDOFF_FORMAT,
	    "version", PROCD_VERSION,
	    "pid", (json_int_t)procd_pid,
	    "started_at", hs_time(&procd_started),
	    "image_started_at", hs_time(&procd_image_started),
	    "reexecs", (json_int_t)procd_reexecs,
	    "program", reexec_program(),
	    "nofile", (json_int_t)procd_nofile.rlim_cur,
	    (json_int_t)procd_nofile.rlim_max);
	json_object_set_new(doc, "listen", json_pack("{s:s?, s:b, s:o, s:s?, "
	    "s:I, s:I, s:o}",
	    "path", lh.path, "owned", lh.owned, "dirfd", hs_fd(w, lh.dirfd),
	    "name", lh.name, "dev", (json_int_t)lh.dev,
	    "ino", (json_int_t)lh.ino, "sockets", sockets));
	json_object_set_new(doc, "notify_fd", hs_fd(w, ready_socket_fd()));
	json_object_set_new(doc, "cgroup", json_pack("{s:b, s:s?, s:s?, s:s?, "
	    "s:o, s:b}", "ok", ch.ok, "why", ch.why, "root", ch.root,
	    "rel", ch.rel, "fd", hs_fd(w, ch.fd), "kill", ch.have_kill));
	json_object_set_new(doc, "next_job", json_integer(job_last_id() + 1));
	json_object_set_new(doc, "next_client",
	    json_integer(client_next_id_get()));
	json_object_set_new(doc, "next_subscription", json_integer(next_sub));
	json_object_set_new(doc, "seq", json_integer(seq));
	json_object_set_new(doc, "events", events);
	json_object_set_new(doc, "jobs", jlist);
	json_object_set_new(doc, "clients", clist);
	json_object_set_new(doc, "fds", w->fds);
	return (doc);
}

/* jansson hands the text over a token at a time: gather it first. */
struct hs_out {
	int	 fd;
	char	 buf[256 * 1024];
	size_t	 len;
};

static int
hs_flush(struct hs_out *out)
{
	const char	*p = out->buf;
	ssize_t		 n;

	while (out->len > 0) {
		n = write(out->fd, p, out->len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		p += n;
		out->len -= n;
	}
	return (0);
}

static int
hs_write(const char *buffer, size_t size, void *data)
{
	struct hs_out	*out = data;
	size_t		 n;

	while (size > 0) {
		if (out->len == sizeof out->buf && hs_flush(out) == -1)
			return (-1);
		n = sizeof out->buf - out->len;
		if (n > size)
			n = size;
		memcpy(out->buf + out->len, buffer, n);
		out->len += n;
		buffer += n;
		size -= n;
	}
	return (0);
}

static int	handoff_check_doc(const json_t *, int, char *, size_t);

/*
 * Writes the state to a new memfd. Returns it (at offset 0) and the fds
 * it names, which the caller keeps open across execve; -1 with why set
 * on error. What this image writes, it first checks as the next image
 * will: a state no image would take must not cost the jobs (the previous
 * image, given it back, would refuse it too).
 */
int
handoff_save(int **fds, size_t *nfds, char *why, size_t len)
{
	struct handoff_writer	 w;
	struct hs_out		*out;
	struct stat		 sb;
	json_t			*doc;
	size_t			 i;
	int			 fd;

	if ((fd = memfd_create("procd-handoff", MFD_CLOEXEC)) == -1) {
		snprintf(why, len, "memfd_create: %s", strerror(errno));
		return (-1);
	}
	out = xmalloc(sizeof *out);
	out->fd = fd;
	out->len = 0;
	w.fds = json_array();
	doc = hs_document(&w);
	/* Its fds and children are this image's own: the check of the
	 * document is what a mismatch of writer and reader would fail. */
	if (handoff_check_doc(doc, 0, why, len) == -1)
		goto fail;
	if (json_dump_callback(doc, hs_write, out, JSON_COMPACT) == -1 ||
	    hs_flush(out) == -1 || fstat(fd, &sb) == -1 ||
	    lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(why, len, "writing the state: %s", strerror(errno));
		goto fail;
	}
	if (sb.st_size > HANDOFF_MAX_SIZE) {
		snprintf(why, len, "the state is %lld bytes, more than %lld",
		    (long long)sb.st_size, HANDOFF_MAX_SIZE);
		goto fail;
	}
	free(out);
	*nfds = json_array_size(w.fds);
	*fds = xreallocarray(NULL, *nfds + 1, sizeof **fds);
	for (i = 0; i < *nfds; i++)
		(*fds)[i] = json_integer_value(json_array_get(w.fds, i));
	json_decref(doc);
	return (fd);
fail:
	json_decref(doc);
	free(out);
	close(fd);
	return (-1);
}

/* ---- checking --------------------------------------------------------- */

/*
 * A field of an object: its type and, for numbers, its range.
 *   i integer    n number    b boolean    s string    S string or null
 *   N number or null    t time [sec, nsec]    a array    o object
 *   O object or null    m flags within max    x anything (checked by the
 *   caller)
 */
struct hfield {
	const char	*key;
	char		 type;
	long long	 min;
	long long	 max;
};

struct handoff_check {
	char		 why[256];
	int		 live;		/* fds must be open, of their kind */
	json_t		*fds;		/* named so far, as an object */
	long long	 pid;		/* procd's, by the document */
};

static int
hc_fail(struct handoff_check *hc, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(hc->why, sizeof hc->why, fmt, ap);
	va_end(ap);
	return (-1);
}

static int
hc_string(const json_t *v)
{
	return (json_is_string(v) &&
	    strlen(json_string_value(v)) == json_string_length(v));
}

static int
hc_field(struct handoff_check *hc, const char *what, const json_t *v,
    const struct hfield *f)
{
	double	d;

	switch (f->type) {
	case 'i':
		if (!json_is_integer(v) || json_integer_value(v) < f->min ||
		    json_integer_value(v) > f->max)
			return (hc_fail(hc, "%s.%s: not an integer in [%lld, "
			    "%lld]", what, f->key, f->min, f->max));
		return (0);
	case 'm':
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    (json_integer_value(v) & ~f->max) != 0)
			return (hc_fail(hc, "%s.%s: not a set of %#llx", what,
			    f->key, f->max));
		return (0);
	case 'N':
		if (json_is_null(v))
			return (0);
		/* FALLTHROUGH */
	case 'n':
		d = json_number_value(v);
		if (!json_is_number(v) || !(d >= f->min && d <= f->max))
			return (hc_fail(hc, "%s.%s: not a number in [%lld, "
			    "%lld]", what, f->key, f->min, f->max));
		return (0);
	case 'b':
		return (json_is_boolean(v) ? 0 : hc_fail(hc, "%s.%s: not a "
		    "boolean", what, f->key));
	case 'S':
		if (json_is_null(v))
			return (0);
		/* FALLTHROUGH */
	case 's':
		return (hc_string(v) ? 0 : hc_fail(hc, "%s.%s: not a string",
		    what, f->key));
	case 't':
		if (!json_is_array(v) || json_array_size(v) != 2 ||
		    !json_is_integer(json_array_get(v, 0)) ||
		    !json_is_integer(json_array_get(v, 1)) ||
		    json_integer_value(json_array_get(v, 0)) < 0 ||
		    json_integer_value(json_array_get(v, 0)) > (1LL << 40) ||
		    json_integer_value(json_array_get(v, 1)) < 0 ||
		    json_integer_value(json_array_get(v, 1)) > 999999999)
			return (hc_fail(hc, "%s.%s: not a time", what, f->key));
		return (0);
	case 'a':
		return (json_is_array(v) ? 0 : hc_fail(hc, "%s.%s: not an "
		    "array", what, f->key));
	case 'O':
		if (json_is_null(v))
			return (0);
		/* FALLTHROUGH */
	case 'o':
		return (json_is_object(v) ? 0 : hc_fail(hc, "%s.%s: not an "
		    "object", what, f->key));
	default:
		return (0);
	}
}

/* o is an object with exactly the fields fs, each of its type. */
static int
hc_object(struct handoff_check *hc, const char *what, const json_t *o,
    const struct hfield *fs)
{
	const struct hfield	*f;
	size_t			 n = 0;
	json_t			*v;

	if (!json_is_object(o))
		return (hc_fail(hc, "%s: not an object", what));
	for (f = fs; f->key != NULL; f++, n++) {
		if ((v = json_object_get(o, f->key)) == NULL)
			return (hc_fail(hc, "%s: no %s", what, f->key));
		if (hc_field(hc, what, v, f) == -1)
			return (-1);
	}
	if (json_object_size(o) != n)
		return (hc_fail(hc, "%s: unknown fields", what));
	return (0);
}

static long long
hv_int(const json_t *o, const char *key)
{
	return (json_integer_value(json_object_get(o, key)));
}

static double
hv_num(const json_t *o, const char *key)
{
	const json_t	*v = json_object_get(o, key);

	return (json_is_null(v) ? -1 : json_number_value(v));
}

static const char *
hv_str(const json_t *o, const char *key)
{
	return (json_string_value(json_object_get(o, key)));
}

/*
 * An fd the document names: at most once, listed in "fds", and (live)
 * open and of the kind wanted (an S_IFMT type, or 0 for any).
 */
static int
hc_fd(struct handoff_check *hc, const char *what, const json_t *v,
    int optional, mode_t kind)
{
	struct stat	sb;
	char		key[16];
	long long	fd;

	if (!json_is_integer(v))
		return (hc_fail(hc, "%s: fd not an integer", what));
	fd = json_integer_value(v);
	if (fd == -1 && optional)
		return (0);
	if (fd < 3 || fd >= HANDOFF_MAX_FDS)
		return (hc_fail(hc, "%s: fd %lld out of range", what, fd));
	snprintf(key, sizeof key, "%lld", fd);
	if (json_object_get(hc->fds, key) != json_true())
		return (hc_fail(hc, "%s: fd %lld not listed or named twice",
		    what, fd));
	json_object_set(hc->fds, key, json_false());
	if (!hc->live)
		return (0);
	if (fstat((int)fd, &sb) == -1)
		return (hc_fail(hc, "%s: fd %lld: %s", what, fd,
		    strerror(errno)));
	if (kind != 0 && (sb.st_mode & S_IFMT) != kind)
		return (hc_fail(hc, "%s: fd %lld is not of the right kind",
		    what, fd));
	return (0);
}

/* Base64 of at most max bytes; the decoded length in *len. */
static int
hc_bytes(struct handoff_check *hc, const char *what, const json_t *v,
    size_t max, size_t *len)
{
	void	*buf;
	ssize_t	 n;

	if (!json_is_string(v) || json_string_length(v) / 4 * 3 > max + 3)
		return (hc_fail(hc, "%s: not base64 of at most %zu bytes",
		    what, max));
	buf = xmalloc(json_string_length(v) / 4 * 3 + 3);
	n = proto_base64_decode(json_string_value(v), json_string_length(v),
	    buf);
	free(buf);
	if (n < 0 || (size_t)n > max)
		return (hc_fail(hc, "%s: not base64 of at most %zu bytes",
		    what, max));
	if (len != NULL)
		*len = n;
	return (0);
}

static const struct hfield hc_doc_fields[] = {
	{ "format", 's', 0, 0 },
	{ "version", 's', 0, 0 },
	{ "pid", 'i', 1, INT_MAX },
	{ "started_at", 't', 0, 0 },
	{ "image_started_at", 't', 0, 0 },
	{ "reexecs", 'i', 0, LLONG_MAX - 1 },
	{ "program", 'S', 0, 0 },
	{ "nofile", 'a', 0, 0 },
	{ "listen", 'o', 0, 0 },
	{ "notify_fd", 'x', 0, 0 },
	{ "cgroup", 'o', 0, 0 },
	{ "next_job", 'i', 1, LLONG_MAX / 2 },
	{ "next_client", 'i', 1, HANDOFF_UINT_MAX },
	{ "next_subscription", 'i', 1, LLONG_MAX / 2 },
	{ "seq", 'i', 0, LLONG_MAX / 2 },
	{ "events", 'a', 0, 0 },
	{ "jobs", 'a', 0, 0 },
	{ "clients", 'a', 0, 0 },
	{ "fds", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_listen_fields[] = {
	{ "path", 's', 0, 0 },
	{ "owned", 'b', 0, 0 },
	{ "dirfd", 'x', 0, 0 },
	{ "name", 'S', 0, 0 },
	{ "dev", 'i', 0, LLONG_MAX },
	{ "ino", 'i', 0, LLONG_MAX },
	{ "sockets", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_cgroup_fields[] = {
	{ "ok", 'b', 0, 0 },
	{ "why", 'S', 0, 0 },
	{ "root", 'S', 0, 0 },
	{ "rel", 'S', 0, 0 },
	{ "fd", 'x', 0, 0 },
	{ "kill", 'b', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_job_fields[] = {
	{ "id", 'i', 1, LLONG_MAX / 2 },
	{ "name", 's', 0, 0 },
	{ "argv", 'a', 0, 0 },
	{ "cwd", 's', 0, 0 },
	{ "pid", 'i', 1, INT_MAX },
	{ "uid", 'i', 0, HANDOFF_UINT_MAX - 1 },
	{ "gid", 'i', 0, HANDOFF_UINT_MAX - 1 },
	{ "daemon", 'b', 0, 0 },
	{ "stop_timeout", 'n', 0, HANDOFF_MAX_SECONDS },
	{ "state", 's', 0, 0 },
	{ "exitcode", 'i', -128, 255 },
	{ "flags", 'm', 0, HANDOFF_JOB_FLAGS },
	{ "started_at", 't', 0, 0 },
	{ "ran", 'n', -1, HANDOFF_MAX_SECONDS },
	{ "exited_at", 't', 0, 0 },
	{ "usage", 'a', 0, 0 },
	{ "kill_left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "error", 'S', 0, 0 },
	{ "env", 'O', 0, 0 },
	{ "creds", 'o', 0, 0 },
	{ "restart", 'o', 0, 0 },
	{ "ready", 'o', 0, 0 },
	{ "tree", 'O', 0, 0 },
	{ "parent", 'i', 0, LLONG_MAX / 2 },
	{ "output", 'o', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_creds_fields[] = {
	{ "change", 'b', 0, 0 },
	{ "groups", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_restart_fields[] = {
	{ "policy", 's', 0, 0 },
	{ "delay", 'n', 0, HANDOFF_MAX_SECONDS },
	{ "max_delay", 'n', 0, HANDOFF_MAX_SECONDS },
	{ "last_delay", 'n', -1, HANDOFF_MAX_SECONDS },
	{ "limit", 'i', -1, LLONG_MAX / 2 },
	{ "count", 'i', 0, LLONG_MAX / 2 },
	{ "at", 't', 0, 0 },
	{ "left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "due", 'b', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_ready_fields[] = {
	{ "notify", 'b', 0, 0 },
	{ "ready", 'b', 0, 0 },
	{ "status", 'S', 0, 0 },
	{ "left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_tree_fields[] = {
	{ "fd", 'x', 0, 0 },
	{ "events", 'x', 0, 0 },
	{ "kill", 'x', 0, 0 },
	{ "waiting", 'b', 0, 0 },
	{ "killed", 'b', 0, 0 },
	{ "base", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_output_fields[] = {
	{ "mode", 'i', OUTPUT_CAPTURE, OUTPUT_NULL },
	{ "fds", 'a', 0, 0 },
	{ "grace_left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "limit", 'i', 0, PROTO_MAX_LOG_LIMIT },
	{ "truncated", 'b', 0, 0 },
	{ "records", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_client_fields[] = {
	{ "fd", 'x', 0, 0 },
	{ "id", 'i', 1, HANDOFF_UINT_MAX },
	{ "flags", 'm', 0, HANDOFF_CLIENT_FLAGS },
	{ "discarded", 'i', 0, LLONG_MAX / 2 },
	{ "in", 'x', 0, 0 },
	{ "out", 'x', 0, 0 },
	{ "batches", 'a', 0, 0 },
	{ "requests", 'a', 0, 0 },
	{ "subscriptions", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_request_fields[] = {
	{ "kind", 's', 0, 0 },
	{ "notification", 'b', 0, 0 },
	{ "id", 'x', 0, 0 },
	{ "job", 'i', 0, LLONG_MAX / 2 },
	{ "left", 'N', 0, HANDOFF_MAX_SECONDS },
	{ "batch", 'i', -1, INT_MAX },
	{ NULL, 0, 0, 0 }
};

static const struct hfield hc_follow_fields[] = {
	{ "streams", 'i', 1, 3 },
	{ "base64", 'b', 0, 0 },
	{ "truncated", 'b', 0, 0 },
	{ "utf8", 'a', 0, 0 },
	{ NULL, 0, 0, 0 }
};

static int
hc_int_array(struct handoff_check *hc, const char *what, const json_t *a,
    size_t n, long long min, long long max)
{
	size_t	i;

	if (!json_is_array(a) || (n != 0 && json_array_size(a) != n))
		return (hc_fail(hc, "%s: not an array of %zu", what, n));
	for (i = 0; i < json_array_size(a); i++) {
		if (!json_is_integer(json_array_get(a, i)) ||
		    json_integer_value(json_array_get(a, i)) < min ||
		    json_integer_value(json_array_get(a, i)) > max)
			return (hc_fail(hc, "%s: element %zu out of range",
			    what, i));
	}
	return (0);
}

static int
hc_kind(const char *name)
{
	int	i;

	for (i = 0; handoff_kinds[i] != NULL; i++) {
		if (strcmp(handoff_kinds[i], name) == 0)
			return (i);
	}
	return (-1);
}

/* A pending utf8 sequence: a valid, incomplete start of a character. */
static int
hc_utf8(struct handoff_check *hc, const json_t *v)
{
	struct proto_utf8	u;
	unsigned char		buf[8];
	char			out[32];
	size_t			len;

	if (hc_bytes(hc, "follow utf8", v, 3, &len) == -1)
		return (-1);
	proto_base64_decode(json_string_value(v), json_string_length(v), buf);
	memset(&u, 0, sizeof u);
	if (proto_utf8_decode(&u, buf, len, 0, out) != 0 ||
	    (size_t)u.have != len)
		return (hc_fail(hc, "follow utf8: not a character's start"));
	return (0);
}

/*
 * Whether the process is reaped agrees with the state: running has its
 * process, stopping too unless it is a tree waiting for its cgroup to
 * empty; waiting, restarting and exited have none.
 */
static int
hc_job_reaped(struct handoff_check *hc, const json_t *j, int state)
{
	const json_t	*tree = json_object_get(j, "tree");
	int		 reaped = (hv_int(j, "flags") & JOB_REAPED) != 0;
	int		 ok;

	switch (state) {
	case PROTO_RUNNING:
		ok = !reaped;
		break;
	case PROTO_STOPPING_STATE:
		ok = !reaped || (json_is_object(tree) &&
		    json_is_true(json_object_get(tree, "waiting")));
		break;
	default:
		ok = reaped;
		break;
	}
	return (ok ? 0 : hc_fail(hc, "job %lld: state %s and its process "
	    "disagree", hv_int(j, "id"), hv_str(j, "state")));
}

/*
 * A job's process is a child of procd's (so signalling its group reaches
 * only the job), not procd nor init; unreaped, it must still be one
 * (live: running, or a zombie only this process may reap).
 */
static int
hc_job_pid(struct handoff_check *hc, const json_t *j)
{
	siginfo_t	si;
	long long	pid = hv_int(j, "pid");

	if (pid <= 1 || pid == hc->pid)
		return (hc_fail(hc, "job %lld: pid %lld is not a worker's",
		    hv_int(j, "id"), pid));
	if (!hc->live || (hv_int(j, "flags") & JOB_REAPED))
		return (0);
	memset(&si, 0, sizeof si);
	if (waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return (hc_fail(hc, "job %lld: pid %lld is not procd's child "
		    "(%s)", hv_int(j, "id"), pid, strerror(errno)));
	return (0);
}

/*
 * Timers that only some states have: a stop deadline while stopping, a
 * readiness deadline while a notify job runs and is not ready.
 */
static int
hc_job_timers(struct handoff_check *hc, const json_t *j, int state)
{
	const json_t	*ready = json_object_get(j, "ready");

	if (!json_is_null(json_object_get(j, "kill_left")) &&
	    state != PROTO_STOPPING_STATE)
		return (hc_fail(hc, "job %lld: a stop deadline while %s",
		    hv_int(j, "id"), hv_str(j, "state")));
	if (!json_is_null(json_object_get(ready, "left")) &&
	    (!jobstate_alive(state) ||
	    !json_is_true(json_object_get(ready, "notify")) ||
	    json_is_true(json_object_get(ready, "ready"))))
		return (hc_fail(hc, "job %lld: a readiness deadline it cannot "
		    "meet", hv_int(j, "id")));
	return (0);
}

static int
hc_job(struct handoff_check *hc, const json_t *j, long long prev_id,
    long long next_job, json_t *ids, json_t *names, json_t *pids)
{
	const json_t	*v, *o;
	char		 key[32];
	long long	 id, parent;
	size_t		 i, len;
	int		 state, gone;

	if (hc_object(hc, "job", j, hc_job_fields) == -1)
		return (-1);
	id = hv_int(j, "id");
	if (id <= prev_id || id >= next_job)
		return (hc_fail(hc, "job %lld: id out of order", id));
	snprintf(key, sizeof key, "%lld", id);
	json_object_set(ids, key, (json_t *)j);
	parent = hv_int(j, "parent");
	if (parent >= id)
		return (hc_fail(hc, "job %lld: parent %lld not older", id,
		    parent));
	snprintf(key, sizeof key, "job-%lld", id);
	if ((!proto_name_valid(hv_str(j, "name")) &&
	    strcmp(hv_str(j, "name"), key) != 0) ||
	    json_object_get(names, hv_str(j, "name")) != NULL)
		return (hc_fail(hc, "job %lld: name not valid or in use", id));
	json_object_set_new(names, hv_str(j, "name"), json_true());
	v = json_object_get(j, "argv");
	if (json_array_size(v) == 0)
		return (hc_fail(hc, "job %lld: empty argv", id));
	for (i = 0; i < json_array_size(v); i++) {
		if (!hc_string(json_array_get(v, i)))
			return (hc_fail(hc, "job %lld: argv", id));
	}
	if ((state = proto_state_parse(hv_str(j, "state"))) == -1)
		return (hc_fail(hc, "job %lld: no such state", id));
	if (hc_job_reaped(hc, j, state) == -1 ||
	    hc_job_timers(hc, j, state) == -1)
		return (-1);
	if (hc_job_pid(hc, j) == -1)
		return (-1);
	if (!(hv_int(j, "flags") & JOB_REAPED)) {
		snprintf(key, sizeof key, "%lld", hv_int(j, "pid"));
		if (json_object_get(pids, key) != NULL)
			return (hc_fail(hc, "job %lld: pid in use", id));
		json_object_set_new(pids, key, json_true());
	}
	if (hc_int_array(hc, "usage", json_object_get(j, "usage"), 3, 0,
	    LLONG_MAX / 2) == -1)
		return (-1);
	if ((v = json_object_get(j, "env")) != NULL && json_is_object(v)) {
		const char	*k;
		json_t		*e;

		json_object_foreach((json_t *)v, k, e) {
			/* null: the client unset it. */
			if ((!hc_string(e) && !json_is_null(e)) || *k == '\0' ||
			    strchr(k, '=') != NULL)
				return (hc_fail(hc, "job %lld: env", id));
		}
	}
	o = json_object_get(j, "creds");
	if (hc_object(hc, "creds", o, hc_creds_fields) == -1 ||
	    hc_int_array(hc, "creds.groups", json_object_get(o, "groups"), 0,
	    0, HANDOFF_UINT_MAX - 1) == -1)
		return (-1);
	if (json_array_size(json_object_get(o, "groups")) > 65536)
		return (hc_fail(hc, "job %lld: too many groups", id));
	o = json_object_get(j, "restart");
	if (hc_object(hc, "restart", o, hc_restart_fields) == -1)
		return (-1);
	if (jobstate_policy_parse(hv_str(o, "policy")) == -1)
		return (hc_fail(hc, "job %lld: no such restart policy", id));
	if ((state == PROTO_RESTARTING) != (json_is_number(json_object_get(o,
	    "left")) || json_is_true(json_object_get(o, "due"))))
		return (hc_fail(hc, "job %lld: restart schedule and state "
		    "disagree", id));
	o = json_object_get(j, "ready");
	if (hc_object(hc, "ready", o, hc_ready_fields) == -1)
		return (-1);
	if ((o = json_object_get(j, "tree")) != NULL && !json_is_null(o)) {
		/* A finished tree's cgroup is gone: its fds are -1. */
		gone = state == PROTO_EXITED && hv_int(o, "fd") == -1;
		if (hc_object(hc, "tree", o, hc_tree_fields) == -1 ||
		    hc_fd(hc, "tree.fd", json_object_get(o, "fd"), gone,
		    S_IFDIR) == -1 ||
		    hc_fd(hc, "tree.events", json_object_get(o, "events"), gone,
		    S_IFREG) == -1 ||
		    (gone && (hv_int(o, "events") != -1 ||
		    hv_int(o, "kill") != -1)) ||
		    hc_fd(hc, "tree.kill", json_object_get(o, "kill"), 1,
		    S_IFREG) == -1 ||
		    hc_int_array(hc, "tree.base", json_object_get(o, "base"),
		    2, 0, LLONG_MAX) == -1)
			return (-1);
	}
	o = json_object_get(j, "output");
	if (hc_object(hc, "output", o, hc_output_fields) == -1)
		return (-1);
	v = json_object_get(o, "fds");
	if (hv_int(o, "mode") != OUTPUT_CAPTURE && json_is_array(v) &&
	    (json_integer_value(json_array_get(v, 0)) != -1 ||
	    json_integer_value(json_array_get(v, 1)) != -1))
		return (hc_fail(hc, "job %lld: pipes without capture", id));
	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    hc_fd(hc, "output.fds", json_array_get(v, 0), 1, S_IFIFO) == -1 ||
	    hc_fd(hc, "output.fds", json_array_get(v, 1), 1, S_IFIFO) == -1)
		return (hc_fail(hc, "job %lld: output fds: %s", id, hc->why));
	v = json_object_get(o, "records");
	for (i = 0; i < json_array_size(v); i++) {
		o = json_array_get(v, i);
		if (!json_is_array(o) || json_array_size(o) != 2 ||
		    !json_is_integer(json_array_get(o, 0)) ||
		    json_integer_value(json_array_get(o, 0)) < 0 ||
		    json_integer_value(json_array_get(o, 0)) > 1 ||
		    hc_bytes(hc, "output record", json_array_get(o, 1),
		    PROTO_MAX_LOG_LIMIT, &len) == -1)
			return (hc_fail(hc, "job %lld: output records", id));
	}
	return (0);
}

/*
 * A parked request waits for something that can still happen: a join
 * for an unfinished job, a follow for open output or a job not yet
 * exited, a start with wait_ready for a running notify job not ready.
 */
static int
hc_request_answerable(struct handoff_check *hc, int kind, const json_t *job)
{
	const json_t	*ready = json_object_get(job, "ready");
	const json_t	*fds = json_object_get(json_object_get(job, "output"),
			    "fds");
	int		 state = proto_state_parse(hv_str(job, "state"));
	int		 ok = 1;

	switch (kind) {
	case KIND_JOIN:
		ok = state != PROTO_EXITED;
		break;
	case KIND_FOLLOW:
		ok = state != PROTO_EXITED ||
		    json_integer_value(json_array_get(fds, 0)) != -1 ||
		    json_integer_value(json_array_get(fds, 1)) != -1;
		break;
	case KIND_READY:
		ok = jobstate_alive(state) &&
		    json_is_true(json_object_get(ready, "notify")) &&
		    !json_is_true(json_object_get(ready, "ready"));
		break;
	}
	return (ok ? 0 : hc_fail(hc, "request: waits on job %lld for what "
	    "cannot come", hv_int(job, "id")));
}

static int
hc_request(struct handoff_check *hc, const json_t *r, const json_t *ids,
    size_t nbatches)
{
	const json_t	*id, *job;
	char		 key[32];
	int		 kind;

	if (hc_object(hc, "request", r, hc_request_fields) == -1)
		return (-1);
	/* A follow has one field more. */
	if ((kind = hc_kind(hv_str(r, "kind"))) == -1)
		return (hc_fail(hc, "request: no such kind"));
	/* A notification has no id (null here); an id may be null too. */
	id = json_object_get(r, "id");
	if ((!json_is_string(id) && !json_is_integer(id) && !json_is_real(id) &&
	    !json_is_null(id)) || (json_is_true(json_object_get(r,
	    "notification")) && !json_is_null(id)))
		return (hc_fail(hc, "request: id"));
	if (hv_int(r, "batch") >= (long long)nbatches)
		return (hc_fail(hc, "request: no such batch"));
	if (kind == KIND_REEXEC) {
		if (hv_int(r, "job") != 0 || !json_is_null(json_object_get(r,
		    "left")))
			return (hc_fail(hc, "request: reexec with a job"));
		return (0);
	}
	snprintf(key, sizeof key, "%lld", hv_int(r, "job"));
	if ((job = json_object_get(ids, key)) == NULL)
		return (hc_fail(hc, "request: no such job %s", key));
	if (kind != KIND_JOIN && !json_is_null(json_object_get(r, "left")))
		return (hc_fail(hc, "request: a timeout only joins have"));
	return (hc_request_answerable(hc, kind, job));
}

/* The request objects of the handoff: a follow carries "follow". */
static int
hc_request_any(struct handoff_check *hc, const json_t *r, const json_t *ids,
    size_t nbatches)
{
	json_t	*copy, *f;
	int	 rc;

	if (!json_is_object(r))
		return (hc_fail(hc, "request: not an object"));
	f = json_object_get(r, "follow");
	if ((f != NULL) != (json_is_string(json_object_get(r, "kind")) &&
	    hc_kind(hv_str(r, "kind")) == KIND_FOLLOW))
		return (hc_fail(hc, "request: follow fields"));
	if (f != NULL) {
		if (hc_object(hc, "follow", f, hc_follow_fields) == -1)
			return (-1);
		f = json_object_get(f, "utf8");
		if (json_array_size(f) != 2 ||
		    hc_utf8(hc, json_array_get(f, 0)) == -1 ||
		    hc_utf8(hc, json_array_get(f, 1)) == -1)
			return (hc_fail(hc, "follow utf8: %s", hc->why));
	}
	copy = json_copy((json_t *)r);
	json_object_del(copy, "follow");
	rc = hc_request(hc, copy, ids, nbatches);
	json_decref(copy);
	return (rc);
}

/*
 * The requests a running batch has not run, each as decoded: a method
 * with its params, or the error it is answered with; an id if it had one.
 */
static int
hc_batch_rest(struct handoff_check *hc, const json_t *rest)
{
	const json_t	*e, *id, *p;
	size_t		 i, n;

	for (i = 0; i < json_array_size(rest); i++) {
		e = json_array_get(rest, i);
		n = 0;
		if (!json_is_object(e))
			return (hc_fail(hc, "batch request %zu: not an object",
			    i));
		if ((id = json_object_get(e, "id")) != NULL) {
			n++;
			if (!hc_string(id) && !json_is_number(id) &&
			    !json_is_null(id))
				return (hc_fail(hc, "batch request %zu: id", i));
		}
		if (json_object_get(e, "error") != NULL) {
			n += 2;
			if (!json_is_integer(json_object_get(e, "error")) ||
			    hv_int(e, "error") < -32768 ||
			    hv_int(e, "error") > -32000 ||
			    !hc_string(json_object_get(e, "message")))
				return (hc_fail(hc, "batch request %zu: error",
				    i));
		} else {
			n++;
			if (!hc_string(json_object_get(e, "method")))
				return (hc_fail(hc, "batch request %zu: method",
				    i));
			if ((p = json_object_get(e, "params")) != NULL) {
				n++;
				if (!json_is_object(p) && !json_is_array(p))
					return (hc_fail(hc, "batch request "
					    "%zu: params", i));
			}
		}
		if (json_object_size(e) != n)
			return (hc_fail(hc, "batch request %zu: unknown fields",
			    i));
	}
	return (0);
}

static const struct hfield hc_batch_fields[] = {
	{ "out", 'x', 0, 0 },
	{ "rest", 'x', 0, 0 },
	{ NULL, 0, 0, 0 }
};

/*
 * A client's batches: the answers so far, and for the one still running
 * (one at most) the requests it has not run, at least one.
 */
static int
hc_batches(struct handoff_check *hc, const json_t *batches)
{
	const json_t	*b, *rest;
	size_t		 i;
	int		 running = 0;

	for (i = 0; i < json_array_size(batches); i++) {
		b = json_array_get(batches, i);
		if (hc_object(hc, "batch", b, hc_batch_fields) == -1 ||
		    hc_bytes(hc, "batch.out", json_object_get(b, "out"),
		    SIZE_MAX / 4, NULL) == -1)
			return (-1);
		rest = json_object_get(b, "rest");
		if (json_is_null(rest))
			continue;
		if (!json_is_array(rest) || json_array_size(rest) == 0 ||
		    running++ > 0)
			return (hc_fail(hc, "batch: not one running batch with "
			    "requests left"));
		if (hc_batch_rest(hc, rest) == -1)
			return (-1);
	}
	return (0);
}

static int
hc_client(struct handoff_check *hc, const json_t *c, const json_t *ids,
    json_t *client_ids, json_t *sub_ids, long long next_sub,
    long long seq)
{
	const json_t	*v, *s, *b;
	char		 key[32];
	size_t		 i, nb;

	if (hc_object(hc, "client", c, hc_client_fields) == -1 ||
	    hc_fd(hc, "client", json_object_get(c, "fd"), 0, S_IFSOCK) == -1 ||
	    hc_bytes(hc, "client.in", json_object_get(c, "in"),
	    procd_config.max_request + HANDOFF_INPUT_SLACK, NULL) == -1 ||
	    hc_bytes(hc, "client.out", json_object_get(c, "out"),
	    SIZE_MAX / 4, NULL) == -1)
		return (-1);
	snprintf(key, sizeof key, "%lld", hv_int(c, "id"));
	if (json_object_get(client_ids, key) != NULL)
		return (hc_fail(hc, "client %s: id twice", key));
	json_object_set_new(client_ids, key, json_true());
	v = json_object_get(c, "batches");
	nb = json_array_size(v);
	if (hc_batches(hc, v) == -1)
		return (-1);
	b = json_object_get(c, "requests");
	for (i = 0; i < json_array_size(b); i++) {
		if (hc_request_any(hc, json_array_get(b, i), ids, nb) == -1)
			return (-1);
	}
	/* Every batch is running or held by a request of its own. */
	for (i = 0; i < nb; i++) {
		size_t	k;

		if (!json_is_null(json_object_get(json_array_get(v, i),
		    "rest")))
			continue;
		for (k = 0; k < json_array_size(b); k++) {
			if (hv_int(json_array_get(b, k), "batch") ==
			    (long long)i)
				break;
		}
		if (k == json_array_size(b))
			return (hc_fail(hc, "client: batch %zu held by none",
			    i));
	}
	v = json_object_get(c, "subscriptions");
	for (i = 0; i < json_array_size(v); i++) {
		s = json_array_get(v, i);
		if (!json_is_array(s) || json_array_size(s) != 3 ||
		    !json_is_integer(json_array_get(s, 0)) ||
		    json_integer_value(json_array_get(s, 0)) < 1 ||
		    json_integer_value(json_array_get(s, 0)) >= next_sub ||
		    !json_is_integer(json_array_get(s, 2)) ||
		    json_integer_value(json_array_get(s, 2)) < 0 ||
		    json_integer_value(json_array_get(s, 2)) > seq + 1)
			return (hc_fail(hc, "client: subscription"));
		if (!json_is_null(json_array_get(s, 1)) &&
		    (hc_int_array(hc, "subscription jobs", json_array_get(s, 1),
		    0, 1, LLONG_MAX / 2) == -1 ||
		    json_array_size(json_array_get(s, 1)) > 1024 * 1024))
			return (-1);
		snprintf(key, sizeof key, "%lld",
		    (long long)json_integer_value(json_array_get(s, 0)));
		if (json_object_get(sub_ids, key) != NULL)
			return (hc_fail(hc, "subscription %s twice", key));
		json_object_set_new(sub_ids, key, json_true());
	}
	return (0);
}

/*
 * An event's job, kept as the JSON text it is sent as: an object, with
 * no line break to cut the line it is sent in.
 */
static int
hc_object_text(const json_t *v)
{
	const char	*t = json_string_value(v);
	json_t		*o;
	int		 ok;

	if (!hc_string(v) || strpbrk(t, "\r\n") != NULL)
		return (0);
	o = json_loadb(t, json_string_length(v), JSON_REJECT_DUPLICATES,
	    NULL);
	ok = json_is_object(o);
	json_decref(o);
	return (ok);
}

static int
hc_events(struct handoff_check *hc, const json_t *events, long long seq)
{
	const json_t	*e;
	size_t		 i, n = json_array_size(events);

	if ((long long)n > seq)
		return (hc_fail(hc, "events: more than seq"));
	for (i = 0; i < n; i++) {
		e = json_array_get(events, i);
		if (!json_is_array(e) || json_array_size(e) != 5 ||
		    !json_is_integer(json_array_get(e, 0)) ||
		    json_integer_value(json_array_get(e, 0)) !=
		    seq - (long long)n + 1 + (long long)i ||
		    !json_is_string(json_array_get(e, 1)) ||
		    feed_type_known(json_string_value(json_array_get(e, 1))) ==
		    NULL ||
		    !json_is_integer(json_array_get(e, 2)) ||
		    json_integer_value(json_array_get(e, 2)) < 1 ||
		    !json_is_integer(json_array_get(e, 3)) ||
		    json_integer_value(json_array_get(e, 3)) < 0 ||
		    json_integer_value(json_array_get(e, 3)) >=
		    HANDOFF_UINT_MAX ||
		    !hc_object_text(json_array_get(e, 4)))
			return (hc_fail(hc, "event %zu malformed", i));
	}
	return (0);
}

/*
 * The cgroup subtree's path names the folder its fd holds: procd removes
 * that path when it stops.
 */
static int
hc_same_folder(struct handoff_check *hc, const json_t *cg)
{
	struct stat	a, b;

	if (!hc->live || hv_int(cg, "fd") == -1)
		return (0);
	if (lstat(hv_str(cg, "root"), &a) == -1 ||
	    fstat(hv_int(cg, "fd"), &b) == -1 || !S_ISDIR(a.st_mode) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		return (hc_fail(hc, "cgroup: %s is not the subtree procd holds",
		    hv_str(cg, "root")));
	return (0);
}

/*
 * A waiting job has a child that has not finished, to wait for: one pass
 * marks the parents of unfinished jobs, one looks at the waiting ones.
 */
static int
hc_waiting(struct handoff_check *hc, const json_t *list)
{
	const json_t	*j;
	json_t		*waited;
	char		 key[32];
	size_t		 i;
	int		 rc = 0;

	waited = json_object();
	json_array_foreach(list, i, j) {
		if (hv_int(j, "parent") != 0 &&
		    proto_state_parse(hv_str(j, "state")) != PROTO_EXITED) {
			snprintf(key, sizeof key, "%lld", hv_int(j, "parent"));
			json_object_set(waited, key, json_true());
		}
	}
	json_array_foreach(list, i, j) {
		snprintf(key, sizeof key, "%lld", hv_int(j, "id"));
		if (proto_state_parse(hv_str(j, "state")) == PROTO_WAITING &&
		    json_object_get(waited, key) == NULL) {
			rc = hc_fail(hc, "job %lld: waiting for no child",
			    hv_int(j, "id"));
			break;
		}
	}
	json_decref(waited);
	return (rc);
}

/* Every fd listed is named somewhere: none would be left open unowned. */
static int
hc_all_named(struct handoff_check *hc)
{
	const char	*key;
	json_t		*v;

	json_object_foreach(hc->fds, key, v) {
		if (v != json_false())
			return (hc_fail(hc, "fd %s listed but not named", key));
	}
	return (0);
}

static int
hc_document(struct handoff_check *hc, const json_t *doc)
{
	const json_t	*v, *o;
	json_t		*ids, *names, *pids, *client_ids, *sub_ids;
	char		 key[16];
	long long	 prev = 0, fd;
	size_t		 i;
	int		 rc = -1;

	if (!json_is_object(doc) || !hc_string(json_object_get(doc,
	    "format")) || strcmp(hv_str(doc, "format"), HANDOFF_FORMAT) != 0)
		return (hc_fail(hc, "not a %s document", HANDOFF_FORMAT));
	if (hc_object(hc, "state", doc, hc_doc_fields) == -1)
		return (-1);
#ifdef PROCD_TEST_HOOKS
	/* The test build only: a new image that refuses, to test going back. */
	if (hc->live && getenv("PROCD_TEST_REFUSE_HANDOFF") != NULL)
		return (hc_fail(hc, "refused for a test "
		    "(PROCD_TEST_REFUSE_HANDOFF is set)"));
#endif
	if (hc->live && hv_int(doc, "pid") != getpid())
		return (hc_fail(hc, "written by pid %lld, not this one",
		    hv_int(doc, "pid")));
	hc->pid = hv_int(doc, "pid");
	if (!json_is_null(json_object_get(doc, "program")) &&
	    hv_str(doc, "program")[0] != '/')
		return (hc_fail(hc, "program: not an absolute path"));
	v = json_object_get(doc, "nofile");
	if (hc_int_array(hc, "nofile", v, 2, 0, LLONG_MAX) == -1)
		return (-1);
	if (json_integer_value(json_array_get(v, 0)) >
	    json_integer_value(json_array_get(v, 1)))
		return (hc_fail(hc, "nofile: soft limit above the hard one"));
	/* The fds first: each may be named once below. */
	v = json_object_get(doc, "fds");
	if (json_array_size(v) > HANDOFF_MAX_FDS)
		return (hc_fail(hc, "too many fds"));
	for (i = 0; i < json_array_size(v); i++) {
		if (!json_is_integer(json_array_get(v, i)))
			return (hc_fail(hc, "fds: not an integer"));
		fd = json_integer_value(json_array_get(v, i));
		snprintf(key, sizeof key, "%lld", fd);
		if (fd < 3 || fd >= HANDOFF_MAX_FDS ||
		    json_object_get(hc->fds, key) != NULL)
			return (hc_fail(hc, "fds: %lld out of range or twice",
			    fd));
		json_object_set_new(hc->fds, key, json_true());
	}
	o = json_object_get(doc, "listen");
	if (hc_object(hc, "listen", o, hc_listen_fields) == -1 ||
	    hc_fd(hc, "listen.dirfd", json_object_get(o, "dirfd"), 1,
	    S_IFDIR) == -1)
		return (-1);
	v = json_object_get(o, "sockets");
	if (json_array_size(v) < 1 || json_array_size(v) > 16)
		return (hc_fail(hc, "listen: 1 to 16 sockets"));
	for (i = 0; i < json_array_size(v); i++) {
		if (hc_fd(hc, "listen.sockets", json_array_get(v, i), 0,
		    S_IFSOCK) == -1)
			return (-1);
	}
	if (hc_fd(hc, "notify_fd", json_object_get(doc, "notify_fd"), 0,
	    S_IFSOCK) == -1)
		return (-1);
	o = json_object_get(doc, "cgroup");
	if (hc_object(hc, "cgroup", o, hc_cgroup_fields) == -1 ||
	    hc_fd(hc, "cgroup.fd", json_object_get(o, "fd"), 1,
	    S_IFDIR) == -1)
		return (-1);
	if (hv_int(o, "fd") != -1 && (json_is_null(json_object_get(o,
	    "root")) || json_is_null(json_object_get(o, "rel"))))
		return (hc_fail(hc, "cgroup: a subtree without a path"));
	if (json_is_true(json_object_get(o, "ok")) && hv_int(o, "fd") == -1)
		return (hc_fail(hc, "cgroup: available without a subtree"));
	if (hc_same_folder(hc, o) == -1)
		return (-1);
	if (hc_events(hc, json_object_get(doc, "events"),
	    hv_int(doc, "seq")) == -1)
		return (-1);

	ids = json_object();
	names = json_object();
	pids = json_object();
	client_ids = json_object();
	sub_ids = json_object();
	v = json_object_get(doc, "jobs");
	for (i = 0; i < json_array_size(v); i++) {
		o = json_array_get(v, i);
		if (hc_job(hc, o, prev, hv_int(doc, "next_job"), ids, names,
		    pids) == -1)
			goto out;
		if (json_object_get(o, "tree") != NULL &&
		    !json_is_null(json_object_get(o, "tree")) &&
		    hv_int(json_object_get(doc, "cgroup"), "fd") == -1)
			goto out_tree;
		prev = hv_int(o, "id");
	}
	if (hc_waiting(hc, v) == -1)
		goto out;
	v = json_object_get(doc, "clients");
	for (i = 0; i < json_array_size(v); i++) {
		o = json_array_get(v, i);
		if (hc_client(hc, o, ids, client_ids, sub_ids,
		    hv_int(doc, "next_subscription"), hv_int(doc, "seq")) == -1)
			goto out;
		if (hv_int(o, "id") >= hv_int(doc, "next_client")) {
			hc_fail(hc, "client id past next_client");
			goto out;
		}
	}
	if (hc_all_named(hc) == -1)
		goto out;
	rc = 0;
	goto out;
out_tree:
	hc_fail(hc, "a tree job without a cgroup subtree");
out:
	json_decref(ids);
	json_decref(names);
	json_decref(pids);
	json_decref(client_ids);
	json_decref(sub_ids);
	return (rc);
}

/* ---- taking over ------------------------------------------------------- */

static void
ha_time(const json_t *v, struct timespec *ts)
{
	ts->tv_sec = json_integer_value(json_array_get(v, 0));
	ts->tv_nsec = json_integer_value(json_array_get(v, 1));
}

/* Decodes base64 the check has seen; returns malloc'd bytes and *len. */
static char *
ha_bytes(const json_t *v, size_t *len)
{
	char	*buf;
	ssize_t	 n;

	buf = xmalloc(json_string_length(v) / 4 * 3 + 3);
	n = proto_base64_decode(json_string_value(v), json_string_length(v),
	    buf);
	*len = n > 0 ? (size_t)n : 0;
	return (buf);
}

static void
ha_usage(const json_t *v, struct rusage *ru)
{
	long long	u = json_integer_value(json_array_get(v, 0));
	long long	s = json_integer_value(json_array_get(v, 1));

	memset(ru, 0, sizeof *ru);
	ru->ru_utime.tv_sec = u / 1000000;
	ru->ru_utime.tv_usec = u % 1000000;
	ru->ru_stime.tv_sec = s / 1000000;
	ru->ru_stime.tv_usec = s % 1000000;
	ru->ru_maxrss = json_integer_value(json_array_get(v, 2));
}

static void
ha_job_output(struct job *job, const json_t *o)
{
	const json_t	*records, *r;
	char		*data;
	size_t		 i, len;
	int		 fds[2];

	output_init(job, hv_int(o, "mode"), hv_int(o, "limit"));
	records = json_object_get(o, "records");
	for (i = 0; i < json_array_size(records); i++) {
		r = json_array_get(records, i);
		data = ha_bytes(json_array_get(r, 1), &len);
		logbuf_append(&job->log, json_integer_value(json_array_get(r,
		    0)), data, len);
		free(data);
	}
	job->log.truncated = json_is_true(json_object_get(o, "truncated"));
	fds[0] = json_integer_value(json_array_get(json_object_get(o, "fds"),
	    0));
	fds[1] = json_integer_value(json_array_get(json_object_get(o, "fds"),
	    1));
	output_adopt(job, fds, hv_num(o, "grace_left"));
}

static void
ha_job_tree(struct job *job, const json_t *o)
{
	int	gone = hv_int(o, "fd") == -1;	/* finished: folder removed */

	job->tree = 1;
	job->cg_fd = hv_int(o, "fd");
	job->cg_events = hv_int(o, "events");
	job->cg_kill = hv_int(o, "kill");
	job->cg_waiting = json_is_true(json_object_get(o, "waiting"));
	job->cg_killed = json_is_true(json_object_get(o, "killed"));
	job->cg_user_base = json_integer_value(json_array_get(
	    json_object_get(o, "base"), 0));
	job->cg_system_base = json_integer_value(json_array_get(
	    json_object_get(o, "base"), 1));
	if (!gone)
		cgroup_job_adopt(job);
}

static void
ha_job(const json_t *j)
{
	struct job	*job;
	const json_t	*o, *v;
	size_t		 i;

	job = xcalloc(1, sizeof *job);
	job->id = hv_int(j, "id");
	job->name = xstrdup(hv_str(j, "name"));
	job->argv = json_deep_copy(json_object_get(j, "argv"));
	job->cwd = xstrdup(hv_str(j, "cwd"));
	job->name_text = job_quote(job->name);
	job->cwd_text = job_quote(job->cwd);
	if ((job->argv_text = proto_dump(job->argv)) == NULL)
		fatalx("%s: cannot encode argv", __func__);
	job->pid = hv_int(j, "pid");
	job->uid = hv_int(j, "uid");
	job->gid = hv_int(j, "gid");
	job->owner = user_get(job->uid);
	user_db_load(job->owner);
	job->user_text = job->owner->db_found ? job_quote(job->owner->name) :
	    xstrdup("null");
	job->daemon = json_is_true(json_object_get(j, "daemon"));
	job->stop_timeout = hv_num(j, "stop_timeout");
	job->state = proto_state_parse(hv_str(j, "state"));
	job->exitcode = hv_int(j, "exitcode");
	job->flags = hv_int(j, "flags");
	ha_time(json_object_get(j, "started_at"), &job->started_at);
	time_from_now(CLOCK_MONOTONIC, -hv_num(j, "ran"), &job->started_mono);
	ha_time(json_object_get(j, "exited_at"), &job->exited_at);
	ha_usage(json_object_get(j, "usage"), &job->usage);
	if (!json_is_null(v = json_object_get(j, "error")))
		job->error_text = job_quote(json_string_value(v));
	if (!json_is_null(v = json_object_get(j, "env")))
		job->env = json_deep_copy(v);

	o = json_object_get(j, "creds");
	job->creds.change = json_is_true(json_object_get(o, "change"));
	job->creds.uid = job->uid;
	job->creds.gid = job->gid;
	v = json_object_get(o, "groups");
	job->creds.ngroups = json_array_size(v);
	job->creds.groups = xreallocarray(NULL, job->creds.ngroups + 1,
	    sizeof *job->creds.groups);
	for (i = 0; i < job->creds.ngroups; i++)
		job->creds.groups[i] = json_integer_value(json_array_get(v, i));

	TAILQ_INIT(&job->children);
	TAILQ_INIT(&job->waiters);
	TAILQ_INIT(&job->ready_waiters);
	job->cg_fd = job->cg_wd = job->cg_events = job->cg_kill = -1;
	job->parent_id = hv_int(j, "parent");

	o = json_object_get(j, "restart");
	job->restart_policy = jobstate_policy_parse(hv_str(o, "policy"));
	job->restart_delay = hv_num(o, "delay");
	job->restart_max_delay = hv_num(o, "max_delay");
	job->restart_last_delay = hv_num(o, "last_delay");
	job->restart_limit = hv_int(o, "limit");
	job->restarts = hv_int(o, "count");
	ha_time(json_object_get(o, "at"), &job->restart_at);

	v = json_object_get(j, "ready");
	job->notify = json_is_true(json_object_get(v, "notify"));
	job->ready = json_is_true(json_object_get(v, "ready"));
	if (!json_is_null(json_object_get(v, "status")))
		job->status_text = job_quote(hv_str(v, "status"));

	if (!json_is_null(json_object_get(j, "tree")))
		ha_job_tree(job, json_object_get(j, "tree"));
	ha_job_output(job, json_object_get(j, "output"));
	job_adopt(job, hv_num(j, "kill_left"));
	if (job->state == PROTO_RESTARTING)
		restart_resume(job, hv_num(o, "left"),
		    json_is_true(json_object_get(o, "due")));
	if (hv_num(v, "left") >= 0)
		ready_timer_resume(job, hv_num(v, "left"));
}

static void
ha_follow(struct request *req, const json_t *f)
{
	const json_t	*u = json_object_get(f, "utf8");
	char		*seq, out[32];
	size_t		 len;
	int		 i;

	req->follow_streams = hv_int(f, "streams");
	req->follow_base64 = json_is_true(json_object_get(f, "base64"));
	req->follow_truncated = json_is_true(json_object_get(f, "truncated"));
	for (i = 0; i < 2; i++) {
		seq = ha_bytes(json_array_get(u, i), &len);
		proto_utf8_decode(&req->follow_utf8[i], seq, len, 0, out);
		free(seq);
	}
}

/* The id as request_new keeps it: the value and its JSON text. */
static void
ha_request_id(struct request *req, const json_t *id)
{
	req->id = json_deep_copy(id);
	if (json_is_integer(id))
		xasprintf(&req->idtext, "%lld",
		    (long long)json_integer_value(id));
	else if ((req->idtext = proto_dump(id)) == NULL)
		fatalx("%s: cannot encode an id", __func__);
}

static void
ha_request(struct client *c, const json_t *r, struct batch **batches,
    struct requests *reexecs)
{
	struct request	*req;
	struct job	*job = NULL;
	int		 kind = hc_kind(hv_str(r, "kind"));
	long long	 b = hv_int(r, "batch");

	req = xcalloc(1, sizeof *req);
	req->client = c;
	req->params = json_object();
	if (!json_is_true(json_object_get(r, "notification")))
		ha_request_id(req, json_object_get(r, "id"));
	if (b >= 0) {
		req->batch = batches[b];
		req->batch->outstanding++;
	}
	if (kind != KIND_REEXEC)
		job = job_find_id(hv_int(r, "job"));
	switch (kind) {
	case KIND_JOIN:
		req->method = &method_join_entry;
		request_park_job(req, job, &job->waiters, hv_num(r, "left"),
		    method_join_timeout);
		break;
	case KIND_FOLLOW:
		req->method = &method_logs_entry;
		ha_follow(req, json_object_get(r, "follow"));
		request_park_job(req, job, &job->followers, -1, NULL);
		break;
	case KIND_READY:
		req->method = &method_start_entry;
		request_park_job(req, job, &job->ready_waiters, -1, NULL);
		break;
	case KIND_REEXEC:
		req->method = &method_reexec_entry;
		request_park(req);
		TAILQ_INSERT_TAIL(reexecs, req, job_entry);
		req->queue = reexecs;
		break;
	}
}

static void
ha_subscriptions(struct client *c, const json_t *subs)
{
	const json_t	*s, *only;
	long long	*ids = NULL;
	size_t		 i, k, n;

	for (i = 0; i < json_array_size(subs); i++) {
		s = json_array_get(subs, i);
		only = json_array_get(s, 1);
		n = json_array_size(only);
		if (!json_is_null(only)) {
			ids = xreallocarray(NULL, n + 1, sizeof *ids);
			for (k = 0; k < n; k++)
				ids[k] = json_integer_value(json_array_get(only,
				    k));
		}
		feed_handoff_subscribe(c,
		    json_integer_value(json_array_get(s, 0)), ids, n,
		    json_integer_value(json_array_get(s, 2)));
		ids = NULL;
	}
}

/* The running batch: its requests not yet run, decoded as when sent. */
static void
ha_batch_rest(struct client *c, struct batch *b, const json_t *rest)
{
	struct proto_request	*pr;
	const json_t		*e;
	size_t			 i;

	if (json_is_null(rest))
		return;
	b->msg.root = json_deep_copy(rest);	/* what the entries borrow */
	b->msg.batch = 1;
	b->msg.nrequests = json_array_size(rest);
	b->msg.requests = xcalloc(b->msg.nrequests, sizeof *b->msg.requests);
	for (i = 0; i < b->msg.nrequests; i++) {
		e = json_array_get(b->msg.root, i);
		pr = &b->msg.requests[i];
		pr->id = json_object_get(e, "id");
		if (json_object_get(e, "error") != NULL) {
			pr->error = hv_int(e, "error");
			pr->message = hv_str(e, "message");
		} else {
			pr->method = hv_str(e, "method");
			pr->params = json_object_get(e, "params");
		}
	}
	b->outstanding++;	/* held until every entry has run */
	c->batch = b;
}

static struct client *
ha_client(const json_t *o, struct requests *reexecs)
{
	struct client	 *c;
	struct batch	**batches;
	const json_t	 *v;
	char		 *in, *out, *text;
	size_t		  inlen, outlen, len, i, nb;

	in = ha_bytes(json_object_get(o, "in"), &inlen);
	out = ha_bytes(json_object_get(o, "out"), &outlen);
	c = client_adopt(hv_int(o, "fd"), hv_int(o, "id"), hv_int(o, "flags"),
	    hv_int(o, "discarded"), in, inlen, out, outlen);
	free(in);
	free(out);
	v = json_object_get(o, "batches");
	nb = json_array_size(v);
	batches = xreallocarray(NULL, nb + 1, sizeof *batches);
	for (i = 0; i < nb; i++) {
		batches[i] = request_batch_new(c);
		text = ha_bytes(json_object_get(json_array_get(v, i), "out"),
		    &len);
		evbuffer_add(batches[i]->out, text, len);
		free(text);
		ha_batch_rest(c, batches[i], json_object_get(json_array_get(v,
		    i), "rest"));
	}
	v = json_object_get(o, "requests");
	for (i = 0; i < json_array_size(v); i++)
		ha_request(c, json_array_get(v, i), batches, reexecs);
	free(batches);
	ha_subscriptions(c, json_object_get(o, "subscriptions"));
	return (c);
}

static void
ha_listen(const json_t *o)
{
	struct listen_handoff	 lh;
	const json_t		*v = json_object_get(o, "sockets");
	size_t			 i;

	memset(&lh, 0, sizeof lh);
	for (i = 0; i < json_array_size(v); i++)
		lh.fds[i] = json_integer_value(json_array_get(v, i));
	lh.nfds = json_array_size(v);
	lh.path = hv_str(o, "path");
	lh.owned = json_is_true(json_object_get(o, "owned"));
	lh.dirfd = hv_int(o, "dirfd");
	lh.name = hv_str(o, "name");
	lh.dev = hv_int(o, "dev");
	lh.ino = hv_int(o, "ino");
	listen_handoff_set(&lh);
}

static void
ha_cgroup(const json_t *o)
{
	struct cgroup_handoff	ch;

	ch.ok = json_is_true(json_object_get(o, "ok"));
	ch.why = hv_str(o, "why");
	ch.root = hv_str(o, "root");
	ch.rel = hv_str(o, "rel");
	ch.fd = hv_int(o, "fd");
	ch.have_kill = json_is_true(json_object_get(o, "kill"));
	cgroup_handoff_set(&ch);
}

/*
 * Takes over a checked document. The fds it names lose their
 * close-on-exec flag only for the exec; workers must not inherit them.
 */
static void
ha_document(const json_t *doc, struct handoff_loaded *hl)
{
	const json_t	*v, *e;
	struct client	*c;
	size_t		 i;

	v = json_object_get(doc, "fds");
	for (i = 0; i < json_array_size(v); i++)
		fcntl(json_integer_value(json_array_get(v, i)), F_SETFD,
		    FD_CLOEXEC);
	hl->previous_version = xstrdup(hv_str(doc, "version"));
	ha_time(json_object_get(doc, "started_at"), &procd_started);
	ha_time(json_object_get(doc, "image_started_at"),
	    &procd_image_started);
	procd_reexecs = hv_int(doc, "reexecs");
	/* The path it was started from: after a give-back, /proc/self/exe
	 * names the old file, which an upgrade may have replaced. */
	if (!json_is_null(json_object_get(doc, "program")))
		reexec_set_program(hv_str(doc, "program"));
	v = json_object_get(doc, "nofile");
	procd_nofile.rlim_cur = json_integer_value(json_array_get(v, 0));
	procd_nofile.rlim_max = json_integer_value(json_array_get(v, 1));
	ha_listen(json_object_get(doc, "listen"));
	ready_adopt(hv_int(doc, "notify_fd"));
	ha_cgroup(json_object_get(doc, "cgroup"));

	feed_handoff_set(hv_int(doc, "seq"), hv_int(doc, "next_subscription"));
	v = json_object_get(doc, "events");
	for (i = 0; i < json_array_size(v); i++) {
		e = json_array_get(v, i);
		feed_handoff_record(json_integer_value(json_array_get(e, 0)),
		    json_string_value(json_array_get(e, 1)),
		    json_integer_value(json_array_get(e, 2)),
		    json_integer_value(json_array_get(e, 3)),
		    json_string_value(json_array_get(e, 4)));
	}
	job_set_next_id(hv_int(doc, "next_job"));
	v = json_object_get(doc, "jobs");
	for (i = 0; i < json_array_size(v); i++)
		ha_job(json_array_get(v, i));
	client_next_id_set(hv_int(doc, "next_client"));
	v = json_object_get(doc, "clients");
	for (i = 0; i < json_array_size(v); i++)
		ha_client(json_array_get(v, i), &hl->reexecs);
	TAILQ_FOREACH(c, &clients, entry)
		client_adopted(c);
}

/* ---- reading ---------------------------------------------------------- */

/* The document in fd, parsed from a mapping of it: no copy. */
static json_t *
handoff_read(int fd, char *why, size_t len)
{
	json_error_t	 err;
	struct stat	 sb;
	json_t		*doc;
	void		*map;

	if (fstat(fd, &sb) == -1 || sb.st_size <= 0 ||
	    sb.st_size > HANDOFF_MAX_SIZE) {
		snprintf(why, len, "state file unreadable, empty or too large");
		return (NULL);
	}
	map = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		snprintf(why, len, "state file: %s", strerror(errno));
		return (NULL);
	}
	doc = json_loadb(map, sb.st_size, JSON_REJECT_DUPLICATES, &err);
	munmap(map, sb.st_size);
	if (doc == NULL)
		snprintf(why, len, "state file: %s at line %d", err.text,
		    err.line);
	return (doc);
}

static int
handoff_check_doc(const json_t *doc, int live, char *why, size_t len)
{
	struct handoff_check	hc;
	int			rc;

	memset(&hc, 0, sizeof hc);
	hc.live = live;
	hc.fds = json_object();
	rc = hc_document(&hc, doc);
	json_decref(hc.fds);
	if (rc == -1)
		snprintf(why, len, "%s", hc.why);
	return (rc);
}

/* Checks a state file without taking it (procd --handoff-check). */
int
handoff_check_file(const char *path, char *why, size_t len)
{
	json_t	*doc;
	int	 fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return (-1);
	}
	doc = handoff_read(fd, why, len);
	close(fd);
	if (doc == NULL)
		return (-1);
	rc = handoff_check_doc(doc, 0, why, len);
	json_decref(doc);
	return (rc);
}

/* The same for bytes in memory (the fuzz target). */
int
handoff_check_buffer(const char *buf, size_t size, char *why, size_t len)
{
	json_error_t	 err;
	json_t		*doc;
	int		 rc;

	if ((doc = json_loadb(buf, size, JSON_REJECT_DUPLICATES, &err)) ==
	    NULL) {
		snprintf(why, len, "%s", err.text);
		return (-1);
	}
	rc = handoff_check_doc(doc, 0, why, len);
	json_decref(doc);
	return (rc);
}

/*
 * Reads, checks and takes over the state in fd (rewound first, so the
 * previous image can read it again). Returns 0, or -1 with why set and
 * nothing taken.
 */
int
handoff_load(int fd, struct handoff_loaded *hl, char *why, size_t len)
{
	json_t	*doc;

	if (lseek(fd, 0, SEEK_SET) == -1) {
		snprintf(why, len, "state file: %s", strerror(errno));
		return (-1);
	}
	if ((doc = handoff_read(fd, why, len)) == NULL)
		return (-1);
	if (handoff_check_doc(doc, 1, why, len) == -1) {
		json_decref(doc);
		return (-1);
	}
	TAILQ_INIT(&hl->reexecs);
	ha_document(doc, hl);
	json_decref(doc);
	return (0);
}

/*
 * After the takeover and the first reap: a tree whose cgroup emptied
 * during the switch sent its notice to the previous image's watch.
 */
void
handoff_settle(void)
{
	struct job	*job, *next;

	TAILQ_FOREACH_SAFE(job, &jobs, entry, next) {
		if (job->tree && job->cg_waiting && cgroup_populated(job) == 0)
			job_tree_empty(job);
	}
}
