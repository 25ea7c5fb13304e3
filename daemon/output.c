/* SPDX-License-Identifier: ISC */
/*
 * Worker output: the pipes procd reads a job's stdout and stderr from, the
 * retained records, and the followers (logs with follow) that get each
 * chunk as it is read. procd always drains the pipes, so a worker is never
 * blocked by a slow reader. After the worker exits, the pipes are read
 * until end of file for at most OUTPUT_GRACE_SEC, since a leftover
 * grandchild may hold them open.
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
#define OUTPUT_READ_SIZE	(64 * 1024)
#define OUTPUT_READS_PER_TURN	1

static void	output_read(int, short, void *);

/* Pipes still open over all jobs: procd's clean stop waits for them. */
u_int		output_streams_open;

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

/*
 * Appends data as the inside of a JSON string: base64, or text with
 * invalid UTF-8 replaced (utf8 carries a split character across calls).
 */
void
output_data(struct evbuffer *b, const char *data, size_t len, int base64,
    struct proto_utf8 *utf8, int final)
{
	char	*text, *quoted;
	size_t	 n;

	if (base64) {
		text = xmalloc(proto_base64_bound(len));
		n = proto_base64_encode(data, len, text);
		evbuffer_add(b, text, n);
		free(text);
		return;
	}
	text = xmalloc(proto_utf8_bound(len));
	n = proto_utf8_decode(utf8, data, len, final, text);
	quoted = xmalloc(proto_json_quote_bound(n));
	n = proto_json_quote(text, n, quoted);
	evbuffer_add(b, quoted, n);
	free(quoted);
	free(text);
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

/* Sends one chunk to a follower (of req->job) as a log notification. */
void
output_notify(struct request *req, int stream, const char *data,
    size_t len, int final)
{
	struct evbuffer	*b;
	size_t		 head;

	if ((b = evbuffer_new()) == NULL)
		fatalx("%s: evbuffer_new failed", __func__);
	evbuffer_add_printf(b, OUTPUT_NOTIFY_HEAD, req->idtext, req->job->id,
	    logbuf_stream_name(stream));
	head = evbuffer_get_length(b);
	output_data(b, data, len, req->follow_base64,
	    &req->follow_utf8[stream], final);
	/* Only the start of a split character: nothing to say yet. */
	if (evbuffer_get_length(b) > head) {
		evbuffer_add(b, OUTPUT_NOTIFY_TAIL,
		    sizeof OUTPUT_NOTIFY_TAIL - 1);
		client_send_buffer(req->client, b);
	}
	evbuffer_free(b);
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

static void
output_close_stream(struct job *job, int stream)
{
	if (job->out_fd[stream] == -1)
		return;
	event_free(job->out_ev[stream]);
	job->out_ev[stream] = NULL;
	close(job->out_fd[stream]);
	job->out_fd[stream] = -1;
	output_streams_open--;
	/* A character cut off at the end is replaced now. */
	output_to_followers(job, stream, "", 0, 1);
	if (output_open_streams(job) == 0 && job->out_grace != NULL)
		evtimer_del(job->out_grace);
	output_check_done(job);
	procd_check_done();
}

static void
output_read(int fd, short events, void *arg)
{
	struct job	*job = arg;
	char		 buf[OUTPUT_READ_SIZE];
	ssize_t		 n;
	int		 stream, i;

	stream = fd == job->out_fd[LOG_STDERR] ? LOG_STDERR : LOG_STDOUT;
	for (i = 0; i < OUTPUT_READS_PER_TURN; i++) {
		n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			output_close_stream(job, stream);
			return;
		}
		logbuf_append(&job->log, stream, buf, n);
		output_to_followers(job, stream, buf, n, 0);
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
			output_read(job->out_fd[i], EV_READ, job);
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
	}
	while ((req = TAILQ_FIRST(&job->followers)) != NULL) {
		if (logreply_flush(req) == 0)
			output_follow_done(req, job);
	}
	if (job->out_grace != NULL)
		event_free(job->out_grace);
	logbuf_clear(&job->log);
}

/* A handed-over job's pipes, read again; its grace with the time left. */
void
output_adopt(struct job *job, int fds[2], double grace_left)
{
	struct timeval	tv;
	int		none[2] = { -1, -1 };

	job->out_fd[0] = fds[0];
	job->out_fd[1] = fds[1];
	output_started(job, none);
	if (grace_left < 0 || output_open_streams(job) == 0)
		return;
	job->out_grace = evtimer_new(procd_base, output_grace_passed, job);
	method_timeval(grace_left, &tv);
	evtimer_add(job->out_grace, &tv);
}
