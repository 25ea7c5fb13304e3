/* SPDX-License-Identifier: ISC */
/*
 * Job events and subscriptions. Every state change gets the next sequence
 * number and is kept, encoded once, in a ring of the most recent
 * --event-history events. A live subscription is sent each event as it
 * happens; a subscription replaying from `since` is fed from the ring as
 * its client reads (feed_pump), and a loss is reported as a gap event.
 */

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "procd.h"

/* Replay keeps no more than this queued for a client at once. */
#define FEED_PUMP_QUEUE	(256 * 1024)

struct feed_record {
	long long	 seq;
	const char	*type;
	long long	 job_id;
	uid_t		 owner;		/* who may see it, besides root */
	char		*job;		/* the job object, held (job.c) */
};

struct subscription {
	long long			 id;
	struct client			*client;
	long long			*jobs;	/* NULL: every job */
	size_t				 njobs;
	long long			 next;	/* next seq to replay; 0: live */
	TAILQ_ENTRY(subscription)	 entry;
	TAILQ_ENTRY(subscription)	 client_entry;
};

static TAILQ_HEAD(, subscription) feed_subscriptions =
    TAILQ_HEAD_INITIALIZER(feed_subscriptions);
static long long		 feed_next_subscription = 1;
static struct feed_record	*feed_ring;
static size_t			 feed_ring_size;
static size_t			 feed_ring_count;
static long long		 feed_seq;

void
feed_init(void)
{
	feed_ring_size = procd_config.event_history;
	if (feed_ring_size > 0)
		feed_ring = xcalloc(feed_ring_size, sizeof *feed_ring);
}

long long
feed_last_seq(void)
{
	return (feed_seq);
}

static long long
feed_oldest_seq(void)
{
	return (feed_seq - (long long)feed_ring_count + 1);
}

/*
 * Is rec for sub? A client sees only events of the jobs it may act on,
 * closed ones included (a closed job's id is accepted unchecked).
 */
static int
feed_matches(const struct subscription *sub, const struct feed_record *rec)
{
	size_t	i;

	if (sub->client->uid != 0 && sub->client->uid != rec->owner)
		return (0);
	if (sub->jobs == NULL)
		return (1);
	for (i = 0; i < sub->njobs; i++) {
		if (sub->jobs[i] == rec->job_id)
			return (1);
	}
	return (0);
}

static void
feed_send(struct subscription *sub, const struct feed_record *rec,
    int replay)
{
	char	*line;
	int	 len;

	len = xasprintf(&line, "{\"jsonrpc\":\"2.0\",\"method\":\"event\","
	    "\"params\":{\"subscription\":%lld,\"seq\":%lld,\"event\":\"%s\","
	    "\"job\":%s}}\n", sub->id, rec->seq, rec->type, rec->job);
	client_send_line(sub->client, line, len, replay);
}

static void
feed_send_gap(struct subscription *sub, long long from, long long to)
{
	char	*line;
	int	 len;

	len = xasprintf(&line, "{\"jsonrpc\":\"2.0\",\"method\":\"event\","
	    "\"params\":{\"subscription\":%lld,\"seq\":%lld,\"event\":\"gap\","
	    "\"job\":null,\"from\":%lld,\"to\":%lld}}\n", sub->id, to, from,
	    to);
	client_send_line(sub->client, line, len, 1);
}

/* Records a state change of job and sends it to live subscriptions. */
void
feed_emit(const char *type, struct job *job)
{
	struct feed_record	 rec, *slot;
	struct subscription	*sub, *next;

	rec.seq = ++feed_seq;
	rec.type = type;
	rec.job_id = job->id;
	rec.owner = job->uid;
	if (feed_ring_size == 0 && TAILQ_EMPTY(&feed_subscriptions))
		return;
	rec.job = job_text_hold(job);

	TAILQ_FOREACH_SAFE(sub, &feed_subscriptions, entry, next) {
		if (sub->next == 0 && feed_matches(sub, &rec))
			feed_send(sub, &rec, 0);
	}
	if (feed_ring_size == 0) {
		job_text_release(rec.job);
		return;
	}
	slot = &feed_ring[(rec.seq - 1) % feed_ring_size];
	job_text_release(slot->job);
	*slot = rec;
	if (feed_ring_count < feed_ring_size)
		feed_ring_count++;
}

/*
 * Feeds c's replaying subscriptions from the ring, a bounded amount at a
 * time; called again as c's output drains.
 */
void
feed_pump(struct client *c)
{
	struct subscription	*sub;
	struct evbuffer		*out;
	struct feed_record	*rec;

	if (c->flags & CLIENT_DEAD)
		return;
	out = bufferevent_get_output(c->bev);
	TAILQ_FOREACH(sub, &c->subscriptions, client_entry) {
		while (sub->next != 0 &&
		    evbuffer_get_length(out) < FEED_PUMP_QUEUE) {
			if (sub->next > feed_seq) {
				sub->next = 0;	/* caught up: live now */
				break;
			}
			if (sub->next < feed_oldest_seq()) {
				feed_send_gap(sub, sub->next,
				    feed_oldest_seq() - 1);
				sub->next = feed_oldest_seq();
				continue;
			}
			rec = &feed_ring[(sub->next - 1) % feed_ring_size];
			if (feed_matches(sub, rec))
				feed_send(sub, rec, 1);
			sub->next++;
		}
	}
}

/*
 * Adds a subscription for c (taking ids), replaying from since + 1.
 * Returns its number.
 */
long long
feed_subscribe(struct client *c, long long *ids, size_t n, long long since)
{
	struct subscription	*sub;

	sub = xcalloc(1, sizeof *sub);
	sub->id = feed_next_subscription++;
	sub->client = c;
	sub->jobs = ids;
	sub->njobs = n;
	/* Even with nothing to replay, go through the pump: the answer to
	 * subscribe must be queued before the first event. */
	sub->next = since + 1;
	TAILQ_INSERT_TAIL(&feed_subscriptions, sub, entry);
	TAILQ_INSERT_TAIL(&c->subscriptions, sub, client_entry);
	event_active(c->pump, EV_TIMEOUT, 0);
	return (sub->id);
}

static void
feed_subscription_free(struct subscription *sub)
{
	TAILQ_REMOVE(&feed_subscriptions, sub, entry);
	TAILQ_REMOVE(&sub->client->subscriptions, sub, client_entry);
	free(sub->jobs);
	free(sub);
}

int
feed_unsubscribe(struct client *c, long long id)
{
	struct subscription	*sub;

	TAILQ_FOREACH(sub, &c->subscriptions, client_entry) {
		if (sub->id == id) {
			feed_subscription_free(sub);
			return (0);
		}
	}
	return (-1);
}

void
feed_client_gone(struct client *c)
{
	struct subscription	*sub;

	while ((sub = TAILQ_FIRST(&c->subscriptions)) != NULL)
		feed_subscription_free(sub);
}

void
feed_free(void)
{
	size_t	i;

	for (i = 0; i < feed_ring_size; i++)
		job_text_release(feed_ring[i].job);
	free(feed_ring);
	feed_ring = NULL;
	feed_ring_size = feed_ring_count = 0;
}

/* The names feed_emit is called with: a handed-over record must be one. */
static const char *const feed_types[] = {
	"started", "stopping", "restarting", "waiting", "exited", "ready",
	"closed", NULL
};

const char *
feed_type_known(const char *name)
{
	const char *const	*t;

	for (t = feed_types; *t != NULL; t++) {
		if (strcmp(*t, name) == 0)
			return (*t);
	}
	return (NULL);
}

/* For the handoff: the counters, and the kept events oldest first. */
void
feed_handoff_get(long long *seq, long long *next_subscription)
{
	*seq = feed_seq;
	*next_subscription = feed_next_subscription;
}

void
feed_handoff_each(feed_record_cb cb, void *arg)
{
	const struct feed_record	*rec;
	long long			 seq;

	for (seq = feed_oldest_seq(); seq <= feed_seq && feed_ring_count > 0;
	    seq++) {
		rec = &feed_ring[(seq - 1) % feed_ring_size];
		cb(rec->seq, rec->type, rec->job_id, rec->owner, rec->job, arg);
	}
}

void
feed_handoff_set(long long seq, long long next_subscription)
{
	feed_seq = seq;
	feed_next_subscription = next_subscription;
}

/* Keeps a handed-over event, in seq order, as feed_emit kept it. */
void
feed_handoff_record(long long seq, const char *type, long long job_id,
    uid_t owner, const char *job)
{
	struct feed_record	*slot;

	if (feed_ring_size == 0)
		return;
	slot = &feed_ring[(seq - 1) % feed_ring_size];
	job_text_release(slot->job);
	slot->seq = seq;
	slot->type = feed_type_known(type);
	slot->job_id = job_id;
	slot->owner = owner;
	slot->job = job_text_copy(job, strlen(job));
	if (feed_ring_count < feed_ring_size)
		feed_ring_count++;
}

void
feed_handoff_subscriptions(struct client *c, feed_subscription_cb cb,
    void *arg)
{
	const struct subscription	*sub;

	TAILQ_FOREACH(sub, &c->subscriptions, client_entry)
		cb(sub->id, sub->jobs, sub->njobs, sub->next, arg);
}

/* A handed-over subscription (taking ids), at its place in the feed. */
void
feed_handoff_subscribe(struct client *c, long long id, long long *ids,
    size_t n, long long next)
{
	struct subscription	*sub;

	sub = xcalloc(1, sizeof *sub);
	sub->id = id;
	sub->client = c;
	sub->jobs = ids;
	sub->njobs = n;
	sub->next = next;
	TAILQ_INSERT_TAIL(&feed_subscriptions, sub, entry);
	TAILQ_INSERT_TAIL(&c->subscriptions, sub, client_entry);
}
