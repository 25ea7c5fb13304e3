/* SPDX-License-Identifier: ISC */
/*
 * procbench's internal interfaces, grouped by the file that defines them:
 * connections framed with proto/, the private procd under test, samples
 * and the table of figures, and one file per group of figures.
 */

#ifndef BENCH_H
#define BENCH_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "proto.h"

#ifndef nitems
#define nitems(a)	(sizeof (a) / sizeof (a)[0])
#endif

/* procbench.c: the settings of one run, from the command line. */
struct bench_config {
	const char	*procd;		/* daemon under test */
	const char	*spawnbase;	/* baseline spawner */
	const char	*self;		/* this program, as a worker */
	const char	**procd_args;	/* more options for procd */
	int		 nprocd_args;
	int		 quick;
	int		 rounds;	/* alternating rounds per figure */
	int		 jobs;		/* sleepers of the big procd */
	int		 spawn_n;	/* jobs per spawn run */
	int		 ctl_n;		/* requests per control run */
	int		 reap_n;	/* jobs for reap-to-answer */
	int		 clients;	/* clients holding a join */
	int		 idle_sec;
	long long	 output_bytes;
};
extern struct bench_config	 bench;
void		 bench_progress(const char *, ...)
		     __attribute__((format(printf, 1, 2)));
void		 bench_fatalx(const char *, ...)
		     __attribute__((format(printf, 1, 2), noreturn));
void		*bench_xcalloc(size_t, size_t);
void		*bench_xrealloc(void *, size_t);

/* conn.c: a non-blocking connection to procd, with buffered lines. */
struct conn {
	int		 fd;
	char		*in;
	size_t		 inoff;		/* first unread byte */
	size_t		 inlen;
	size_t		 insize;
	size_t		 inscan;	/* searched for "\n" up to here */
	char		*out;
	size_t		 outoff;	/* first unsent byte */
	size_t		 outlen;
	size_t		 outsize;
	long long	 next_id;	/* for conn_call */
	int		 inflight;	/* kept by the figure using it */
};
/* What conn_reply_id found at the start of a response line. */
#define CONN_RESULT	1
#define CONN_ERROR	2
struct conn	*conn_open(const char *);
void		 conn_close(struct conn *);
void		 conn_queue(struct conn *, const char *, size_t);
void		 conn_queuef(struct conn *, const char *, ...)
		     __attribute__((format(printf, 2, 3)));
int		 conn_flush(struct conn *);
int		 conn_fill(struct conn *);
int		 conn_line(struct conn *, const char **, size_t *);
int		 conn_wait(struct conn *, int);
int		 conn_next_line(struct conn *, const char **, size_t *);
long long	 conn_reply_id(const char *, size_t, int *);
json_t		*conn_call(struct conn *, const char *, json_t *);
int		 conn_poll(struct conn **, int, int);

/* server.c: the private procd under test, and what /proc says of it. */
struct server {
	pid_t		 pid;
	int		 n;
	char		*path;		/* its socket */
	char		*log;		/* its stderr */
	struct conn	*conn;		/* for set-up calls */
	long long	*ids;		/* of its sleepers, from [1] */
	int		 nsleepers;
	const char	*start_extra;	/* more params of each sleeper's start */
};
extern char	*server_dir;
void		 server_init(void);
void		 server_cleanup(void);
struct server	*server_start(void);
void		 server_stop(struct server *);
long long	 server_rss(const struct server *);
double		 server_cpu(const struct server *);
long long	 server_ctxsw(const struct server *);
int		 server_sleepers(struct server *, int);

/* stats.c: samples, percentiles and the clock. */
struct stats {
	double		*v;
	size_t		 n;
	size_t		 cap;
};
long long	 stats_now(void);
void		 stats_add(struct stats *, double);
double		 stats_pct(struct stats *, double);
double		 stats_median(struct stats *);
void		 stats_clear(struct stats *);

/* table.c: the figures, printed as they are measured. */
void		 table_header(void);
void		 table_row(const char *, double, const char *);
void		 table_ratio(const char *, double, const char *, double);
void		 table_note(const char *, ...)
		     __attribute__((format(printf, 1, 2)));

/* spawn.c */
void		 spawn_figures(struct server *);

/* reap.c */
void		 reap_figures(struct server *);
void		 reap_stamp_main(const char *);

/* output.c */
void		 output_figures(struct server *);

/* ctl.c: control plane, lookup and list. */
void		 ctl_figures(struct server *, struct server *);
void		 ctl_lookup_figures(struct server *, struct server *);
void		 ctl_list_figures(struct server *);

/* scale.c: memory, pending joins and idle cost. */
void		 scale_fill(struct server *);
void		 scale_figures(void);
void		 scale_join_figures(void);
void		 scale_full_figures(void);
void		 scale_idle_figures(struct server *);

#endif /* BENCH_H */
