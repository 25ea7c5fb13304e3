/* SPDX-License-Identifier: ISC */
/*
 * Worker output: the pipes procd reads a job's stdout and stderr from, the
 * retained records, and the followers (logs with follow) that get each
 * chunk as it is read. procd always drains the pipes, so a worker is never
 * blocked by a slow reader. After the worker exits, the pipes are read
 * until end of file for at most OUTPUT_GRACE_SEC, since a leftover
 * grandchild may hold them open.
 *
 * The path of a chunk is kept short, since a worker can write as fast as
 * the kernel copies: read straight into the retained records, encoded
 * once per follower into one buffer, head and tail included, and sent
 * from there (see client_send_data).
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "procd.h"

#define OUTPUT_GRACE_SEC	1
#define OUTPUT_READ_SIZE	(256 * 1024)
#define OUTPUT_READS_PER_TURN	4
/*
 * A pipe that fills up is given OUTPUT_PIPE_SIZE (the most an unprivileged
 * process may ask for by default), within OUTPUT_PIPE_BUDGET over all
 * jobs: see output_pipe_grow.
 */
#define OUTPUT_PIPE_DEFAULT	(64 * 1024)
#define OUTPUT_PIPE_SIZE	(1024 * 1024)
#define OUTPUT_PIPE_BUDGET	(8 * 1024 * 1024)

static void	output_read(int, short, void *);

/* Pipes still open over all jobs: procd's clean stop waits for them. */
u_int		output_streams_open;

/* Bytes of enlarged pipes, over all jobs. */
static size_t	output_pipe_grown;

/* Where a chunk is encoded: the largest so far, kept. */
static char	*output_scratch;
static size_t	 output_scratch_size;

int
output_mode_parse(const char *name)
{
	if (name == NULL || strcmp(name, "capture") == 0)
		return (OUTPUT_CAPTURE);
	if (strcmp(name, "inherit") == 0)
		return (OUTPUT_INHERIT);
	if (strcmp(name, "null") == 0)
		return (OUTPUT_NULL);
	return (-1);
}

void
output_init(struct job *job, int mode, size_t limit)
{
	job->out_mode = mode;
	job->out_fd[0] = job->out_fd[1] = -1;
	job->out_grown[0] = job->out_grown[1] = 0;
	logbuf_init(&job->log, limit);
	TAILQ_INIT(&job->followers);
}

/*
 * Makes the pipes for a capturing job; wfd gets the write ends, for the
 * worker's stdout and stderr. Returns 0 or -1 with errno set.
 */
int
output_pipes(struct job *job, int wfd[2])
{
	int	p[2], i;

	wfd[0] = wfd[1] = -1;
	if (job->out_mode != OUTPUT_CAPTURE)
		return (0);
	for (i = 0; i < 2; i++) {
		if (pipe2(p, O_CLOEXEC) == -1) {
			output_abort(job, wfd);
			return (-1);
		}
		/* Only procd's end is non-blocking; the worker's blocks. */
		fcntl(p[0], F_SETFL, O_NONBLOCK);
		job->out_fd[i] = p[0];
		wfd[i] = p[1];
	}
	return (0);
}

/* The spawn failed: closes both ends of the pipes. */
void
output_abort(struct job *job, int wfd[2])
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (wfd[i] != -1)
			close(wfd[i]);
		if (job->out_fd[i] != -1)
			close(job->out_fd[i]);
		wfd[i] = job->out_fd[i] = -1;
	}
}

/* The worker runs: procd drops its write ends and starts reading. */
void
output_started(struct job *job, int wfd[2])
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (wfd[i] != -1)
			close(wfd[i]);
		if (job->out_fd[i] == -1)
			continue;
		job->out_ev[i] = event_new(procd_base, job->out_fd[i],
		    EV_READ | EV_PERSIST, output_read, job);
		event_add(job->out_ev[i], NULL);
		output_streams_open++;
	}
}

/* Bit set of the streams whose pipe is still open. */
int
output_open_streams(const struct job *job)
{
	return ((job->out_fd[0] != -1 ? 1 : 0) |
	    (job->out_fd[1] != -1 ? 2 : 0));
}

static char *
output_scratch_get(size_t size)
{
	if (size > output_scratch_size) {
		free(output_scratch);
		output_scratch = xmalloc(size);
		output_scratch_size = size;
	}
	return (output_scratch);
}

/* Room output_encode needs for len bytes. */
static size_t
output_encode_bound(size_t len, int base64)
{
	return (base64 ? proto_base64_bound(len) :
	    proto_utf8_quote_bound(len));
}

/*
 * Writes data into out as the inside of a JSON string: base64, or text
 * with invalid UTF-8 replaced (utf8 carries a split character across
 * calls). Returns the bytes written.
 */
static size_t
output_encode(char *out, const char *data, size_t len, int base64,
    struct proto_utf8 *utf8, int final)
{
	if (base64)
		return (proto_base64_encode(data, len, out));
	return (proto_utf8_quote(utf8, data, len, final, out));
}

/* Appends data, encoded as output_encode does, to b. */
void
output_data(struct evbuffer *b, const char *data, size_t len, int base64,
    struct proto_utf8 *utf8, int final)
{
	char	*text;
	size_t	 n;

	text = output_scratch_get(output_encode_bound(len, base64));
	n = output_encode(text, data, len, base64, utf8, final);
	if (evbuffer_add(b, text, n) == -1)
		fatalx("%s: evbuffer_add failed", __func__);
}

#define OUTPUT_NOTIFY_HEAD	"{\"jsonrpc\":\"2.0\",\"method\":\"log\"," \
	"\"params\":{\"request\":%s,\"job\":%lld,\"stream\":\"%s\"," \
	"\"data\":\""
#define OUTPUT_NOTIFY_TAIL	"\"}}\n"

/* The bytes of a follower's log notification around its data. */
size_t
output_notify_overhead(const struct request *req)
{
	return (snprintf(NULL, 0, OUTPUT_NOTIFY_HEAD, req->idtext,
	    req->job->id, "stdout") + sizeof OUTPUT_NOTIFY_TAIL - 1);
}

/*
 * Sends one chunk to a follower (of req->job) as a log notification,
 * built whole in the scratch buffer and sent from there.
 */
void
output_notify(struct request *req, int stream, const char *data,
    size_t len, int final)
{
	const char	*name = logbuf_stream_name(stream);
	char		*line;
	size_t		 head, n;

	if (req->client->flags & CLIENT_DEAD)
		return;
	head = snprintf(NULL, 0, OUTPUT_NOTIFY_HEAD, req->idtext,
	    req->job->id, name);
	line = output_scratch_get(head + 1 + output_encode_bound(len,
	    req->follow_base64) + sizeof OUTPUT_NOTIFY_TAIL);
	snprintf(line, head + 1, OUTPUT_NOTIFY_HEAD, req->idtext,
	    req->job->id, name);
	n = output_encode(line + head, data, len, req->follow_base64,
	    &req->follow_utf8[stream], final);
	/* Only the start of a split character: nothing to say yet. */
	if (n == 0)
		return;
	memcpy(line + head + n, OUTPUT_NOTIFY_TAIL,
	    sizeof OUTPUT_NOTIFY_TAIL - 1);
	client_send_data(req->client, line,
	    head + n + sizeof OUTPUT_NOTIFY_TAIL - 1);
}

/*
 * Sends a chunk to every follower of job. A follower cut off for its
 * output limit takes its client's other requests with it, so after one
 * the walk starts again, past those already served.
 */
static void
output_to_followers(struct job *job, int stream, const char *data,
    size_t len, int final)
{
	static u_int	 tick;
	struct request	*req;
	struct client	*c;

	tick++;
again:
	TAILQ_FOREACH(req, &job->followers, job_entry) {
		if (req->follow_tick == tick)
			continue;
		req->follow_tick = tick;
		if (!(req->follow_streams & (1 << stream)))
			continue;
		c = req->client;
		if (logreply_live(req, stream, data, len, final)) {
			if (c->flags & CLIENT_DEAD)
				goto again;
			continue;
		}
		if (len == 0 && (req->follow_base64 ||
		    req->follow_utf8[stream].have == 0))
			continue;
		output_notify(req, stream, data, len, final);
		if (c->flags & CLIENT_DEAD)
			goto again;
	}
}

/* The answer to logs with follow: {"job": JOB OBJECT, "truncated": B}. */
static void
output_follow_done(struct request *req, struct job *job)
{
	const char	*text;
	size_t		 len;

	text = job_text(job, &len);
	request_reply_text(req, "{\"job\":", text, len,
	    req->follow_truncated ? ",\"truncated\":true}" :
	    ",\"truncated\":false}");
}

/*
 * Answers the followers once the job is exited and its pipes are closed,
 * but not one whose replay is still being sent. An answer can cut off a
 * client and free its other requests, so each starts from the head.
 */
void
output_check_done(struct job *job)
{
	struct request	*req;

	if (job->state != PROTO_EXITED || output_open_streams(job) != 0)
		return;
	for (;;) {
		TAILQ_FOREACH(req, &job->followers, job_entry) {
			if (req->reply == NULL)
				break;
		}
		if (req == NULL)
			return;
		output_follow_done(req, job);
	}
}

/*
 * A stream that fills its pipe gets a bigger one: the worker then blocks
 * less often, and each read brings more, for fewer wake-ups on both
 * sides. The kernel counts pipe pages per user, and an unprivileged user
 * past /proc/sys/fs/pipe-user-pages-soft gets tiny pipes for all it
 * makes next, so only a few pipes are enlarged at a time. A refusal is
 * fine: the pipe keeps its size, and is not asked again.
 */
static void
output_pipe_grow(struct job *job, int stream)
{
	int	size;

	if (job->out_grown[stream] != 0 ||
	    output_pipe_grown + OUTPUT_PIPE_SIZE > OUTPUT_PIPE_BUDGET)
		return;
	size = fcntl(job->out_fd[stream], F_SETPIPE_SZ, OUTPUT_PIPE_SIZE);
	if (size <= OUTPUT_PIPE_DEFAULT) {
		job->out_grown[stream] = -1;
		return;
	}
	job->out_grown[stream] = size;
	output_pipe_grown += size;
}

/* The stream's pipe is closed: what it was enlarged by is free again. */
static void
output_pipe_release(struct job *job, int stream)
{
	if (job->out_grown[stream] > 0)
		output_pipe_grown -= job->out_grown[stream];
	job->out_grown[stream] = 0;
}

static void
output_close_stream(struct job *job, int stream)
{
	if (job->out_fd[stream] == -1)
		return;
	event_free(job->out_ev[stream]);
	job->out_ev[stream] = NULL;
	close(job->out_fd[stream]);
	job->out_fd[stream] = -1;
	output_pipe_release(job, stream);
	output_streams_open--;
	/* A character cut off at the end is replaced now. */
	output_to_followers(job, stream, "", 0, 1);
	if (output_open_streams(job) == 0 && job->out_grace != NULL)
		evtimer_del(job->out_grace);
	output_check_done(job);
	procd_check_done();
}

/* Whether every follower of job has sent all it was given. */
static int
output_followers_idle(const struct job *job)
{
	const struct request	*req;
	struct evbuffer		*out;

	TAILQ_FOREACH(req, &job->followers, job_entry) {
		out = bufferevent_get_output(req->client->bev);
		if (req->reply != NULL || evbuffer_get_length(out) != 0)
			return (0);
	}
	return (1);
}

/*
 * Reads one chunk, straight into the retained records unless the limit is
 * too small for that, and hands it to the followers. Returns the bytes
 * read, 0 at end of file (or an error), -1 if the pipe is empty for now;
 * *full says the read took all the room it had.
 */
static ssize_t
output_read_chunk(struct job *job, int stream, int *full)
{
	static char	 copy[OUTPUT_READ_SIZE];
	char		*buf;
	const char	*data;
	size_t		 room;
	ssize_t		 n;
	int		 empty;

	buf = logbuf_reserve(&job->log, stream, sizeof copy, &room);
	if (buf == NULL) {
		buf = copy;
		room = sizeof copy;
	}
	do {
		n = read(job->out_fd[stream], buf, room);
	} while (n == -1 && errno == EINTR);
	empty = n == -1 && errno == EAGAIN;
	if (buf != copy)
		data = logbuf_commit(&job->log, n > 0 ? n : 0);
	else {
		if (n > 0)
			logbuf_append(&job->log, stream, buf, n);
		data = buf;
	}
	if (n <= 0)
		return (empty ? -1 : 0);
	if (n >= OUTPUT_PIPE_DEFAULT)
		output_pipe_grow(job, stream);
	*full = (size_t)n == room;
	output_to_followers(job, stream, data, n, 0);
	return (n);
}

/*
 * A pipe is readable. After a read that filled its room, more are made
 * in the same turn while the followers keep up (nothing is left queued
 * for them), so a fast worker costs fewer loop turns; never more than a
 * few, for the other clients' sake.
 */
static void
output_read(int fd, short events, void *arg)
{
	struct job	*job = arg;
	ssize_t		 n;
	int		 stream, i, full = 0;

	stream = fd == job->out_fd[LOG_STDERR] ? LOG_STDERR : LOG_STDOUT;
	for (i = 0; i < OUTPUT_READS_PER_TURN; i++) {
		if ((n = output_read_chunk(job, stream, &full)) == -1)
			return;
		if (n == 0) {
			output_close_stream(job, stream);
			return;
		}
		if (!full || !output_followers_idle(job))
			return;
	}
}

/*
 * Reads what a pipe holds now, and no more (a grandchild may still be
 * writing): as many bytes as it has room for, at most.
 */
static void
output_drain_stream(struct job *job, int stream)
{
	size_t	left = OUTPUT_PIPE_DEFAULT;
	ssize_t	n;
	int	full;

	if (job->out_grown[stream] > 0)
		left = job->out_grown[stream];
	while (left > 0 && job->out_fd[stream] != -1) {
		if ((n = output_read_chunk(job, stream, &full)) <= 0)
			return;
		left -= (size_t)n < left ? (size_t)n : left;
	}
}

/*
 * Reads what the pipes hold now and closes them: at the end of the grace
 * period, and before a restart gives the job new pipes.
 */
void
output_drain(struct job *job)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (job->out_fd[i] != -1)
			output_drain_stream(job, i);
		output_close_stream(job, i);
	}
}

static void
output_grace_passed(int fd, short events, void *arg)
{
	struct job	*job = arg;

	log_debug("job %lld (%s): output still open %d s after exit; "
	    "closing it", job->id, job->name, OUTPUT_GRACE_SEC);
	output_drain(job);
}

/* The worker was reaped: what is left in the pipes gets a grace period. */
void
output_reaped(struct job *job)
{
	struct timeval	tv = { OUTPUT_GRACE_SEC, 0 };

	if (output_open_streams(job) == 0)
		return;
	if (job->out_grace == NULL)
		job->out_grace = evtimer_new(procd_base, output_grace_passed,
		    job);
	evtimer_add(job->out_grace, &tv);
}

/* The job is being closed: answers followers, frees everything. */
void
output_free(struct job *job)
{
	struct request	*req;
	int		 i;

	for (i = 0; i < 2; i++) {
		if (job->out_ev[i] != NULL)
			event_free(job->out_ev[i]);
		if (job->out_fd[i] != -1) {
			close(job->out_fd[i]);
			output_streams_open--;
		}
		job->out_fd[i] = -1;
		output_pipe_release(job, i);
	}
	while ((req = TAILQ_FIRST(&job->followers)) != NULL) {
		if (logreply_flush(req) == 0)
			output_follow_done(req, job);
	}
	if (job->out_grace != NULL)
		event_free(job->out_grace);
	logbuf_clear(&job->log);
}

/* A handed-over pipe the previous image enlarged counts as before. */
static void
output_pipe_adopt(struct job *job)
{
	int	i, size;

	for (i = 0; i < 2; i++) {
		if (job->out_fd[i] == -1)
			continue;
		size = fcntl(job->out_fd[i], F_GETPIPE_SZ);
		if (size > OUTPUT_PIPE_DEFAULT) {
			job->out_grown[i] = size;
			output_pipe_grown += size;
		}
	}
}

/* A handed-over job's pipes, read again; its grace with the time left. */
void
output_adopt(struct job *job, int fds[2], double grace_left)
{
	struct timeval	tv;
	int		none[2] = { -1, -1 };

	job->out_fd[0] = fds[0];
	job->out_fd[1] = fds[1];
	output_pipe_adopt(job);
	output_started(job, none);
	if (grace_left < 0 || output_open_streams(job) == 0)
		return;
	job->out_grace = evtimer_new(procd_base, output_grace_passed, job);
	method_timeval(grace_left, &tv);
	evtimer_add(job->out_grace, &tv);
}
