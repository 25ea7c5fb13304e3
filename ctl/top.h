/* SPDX-License-Identifier: ISC */
/*
 * procctl top: what its pieces share. cmd-top.c runs it, top-jobs.c keeps
 * the table of jobs current, top-proc.c reads the processes' figures from
 * /proc, top-draw.c turns the table into a screen or a plain snapshot and
 * top-term.c owns the terminal.
 */

#ifndef TOP_H
#define TOP_H

#include <sys/types.h>

#include <termios.h>

#include <jansson.h>

/* One reading of a process's figures in /proc. */
struct top_sample {
	pid_t			 pid;		/* 0: none */
	unsigned long long	 start;		/* clock ticks after boot */
	unsigned long long	 ticks;		/* user and system CPU */
	double			 at;		/* CLOCK_BOOTTIME, seconds */
	long long		 rss;		/* KiB */
};

/* A job as top shows it: its newest object and its process's figures. */
struct top_job {
	json_int_t		 id;
	json_t			*job;
	int			 live;		/* last describes its process */
	struct top_sample	 last;		/* the newest reading */
	struct top_sample	 base;		/* CPU% is measured from it */
	double			 cpu;		/* % of a core; < 0: unknown */
};

/* The terminal of the full-screen mode. */
struct top_term {
	int		 in;		/* where keys come from; -1: none */
	int		 out;
	int		 active;	/* top has it (alternate screen) */
	int		 raw;		/* in was put in raw mode */
	struct termios	 saved;
	int		 rows;
	int		 cols;
	int		 clear;		/* the next frame starts from blank */
};

struct top {
	struct procctl	*ctl;

	struct top_job	*jobs;		/* ordered by id */
	size_t		 njobs;
	size_t		 size;
	json_t		*info;		/* procd's info, NULL until known */

	int		 states;	/* mask of the states shown; 0: all */
	json_int_t	 parent;	/* only its children; -1: every job */

	int		 local;		/* /proc shows procd's processes */
	long		 hz;
	long		 page_kib;

	struct top_term	 term;
	int		 quit;
	int		 tick;		/* time to ask for the list again */
};

/* top-jobs.c */
void		 top_jobs_set(struct top *, const json_t *);
void		 top_jobs_update(struct top *, json_t *);
void		 top_jobs_remove(struct top *, json_int_t);
void		 top_jobs_clear(struct top *);
int		 top_jobs_shown(const struct top *, const struct top_job *);
size_t		 top_jobs_count_shown(const struct top *);

/* top-proc.c */
void		 top_proc_init(struct top *);
void		 top_proc_measure(struct top *, struct top_job *, int);
void		 top_proc_measure_all(struct top *);
double		 top_proc_cpu_time(const struct top *, const struct top_job *);
long long	 top_proc_rss(const struct top_job *);

/* top-draw.c */
void		 top_draw_screen(struct top *);
void		 top_draw_table(struct top *);
void		 top_draw_json(struct top *);

/* top-term.c */
int		 top_term_enter(struct top_term *);
void		 top_term_leave(struct top_term *);
void		 top_term_size(struct top_term *);
void		 top_term_write(struct top_term *, const char *, size_t);
int		 top_term_suspend(struct top_term *);

#endif /* TOP_H */
