/* SPDX-License-Identifier: ISC */
/*
 * procctl top's output: the cells of a job's row (the columns of list
 * that matter to a monitor, with the CPU and memory of its process), laid
 * out as a full-screen frame sent in one write, as a plain table, or as
 * one JSON object per snapshot.
 */

#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proto.h"
#include "procctl.h"
#include "top.h"

enum top_column {
	TOP_ID,
	TOP_NAME,
	TOP_USER,
	TOP_STATE,
	TOP_EXIT,
	TOP_PID,
	TOP_CPU,
	TOP_TIME,
	TOP_RSS,
	TOP_UPTIME,
	TOP_RESTARTS,
	TOP_READY,
	TOP_COMMAND,
	TOP_NCOLUMNS
};

static const char *const top_draw_heading[TOP_NCOLUMNS] = {
	"ID", "NAME", "USER", "STATE", "EXIT", "PID", "CPU%", "TIME", "RSS",
	"UPTIME", "RESTARTS", "READY", "COMMAND"
};
/* Numbers line up on the right, as in list and ps. */
static const int top_draw_right[TOP_NCOLUMNS] = {
	1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 0, 0
};
/*
 * The narrowest the columns whose figures change every second may be on
 * the screen, so that the columns after them stay where they are.
 */
static const int top_draw_min[TOP_NCOLUMNS] = {
	0, 0, 0, 0, 0, 0, 5, 7, 5, 0, 0, 0, 0
};
/* On the screen a long name is cut, to leave room for the figures. */
#define TOP_DRAW_NAME_MAX	24

/* A growing string: a frame, or one line of it. */
struct top_buf {
	char	*data;
	size_t	 len;
	size_t	 size;
};

static void
top_buf_add(struct top_buf *b, const char *s, size_t len)
{
	while (b->size - b->len < len + 1) {
		b->size = b->size == 0 ? 4096 : b->size * 2;
		b->data = xrealloc(b->data, b->size);
	}
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void
top_buf_str(struct top_buf *b, const char *s)
{
	top_buf_add(b, s, strlen(s));
}

static void
top_buf_spaces(struct top_buf *b, int n)
{
	for (; n > 0; n--)
		top_buf_add(b, " ", 1);
}

static const char *
top_draw_str(const json_t *job, const char *key)
{
	json_t	*v = json_object_get(job, key);

	return (json_is_string(v) ? json_string_value(v) : NULL);
}

/*
 * Control characters in a name or a command (C0, DEL, and C1 in UTF-8)
 * would act on the terminal, or break a plain table's lines: each
 * becomes '?'.
 */
static char *
top_draw_clean(char *s)
{
	unsigned char	*p = (unsigned char *)s, *q = p;

	while (*p != '\0') {
		if (*p < 0x20 || *p == 0x7f) {
			*q++ = '?';
			p++;
		} else if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			*q++ = '?';
			p += 2;
		} else
			*q++ = *p++;
	}
	*q = '\0';
	return (s);
}

/*
 * The columns a character takes: 2 in the main wide East Asian and emoji
 * ranges, 1 otherwise. Close enough to cut lines by; line wrap is off on
 * the screen, so an error costs a character, never the layout.
 */
static int
top_draw_cp_width(unsigned long cp)
{
	return ((cp >= 0x1100 && cp <= 0x115f) ||
	    (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
	    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
	    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) ||
	    (cp >= 0x1f300 && cp <= 0x1f64f) ||
	    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
	    (cp >= 0x20000 && cp <= 0x3fffd) ? 2 : 1);
}

/* How many bytes of s fit in cols columns; *width: how many they take. */
static size_t
top_draw_fit(const char *s, int cols, int *width)
{
	const unsigned char	*p = (const unsigned char *)s;
	unsigned long		 cp;
	size_t			 i = 0;
	int			 w = 0, cw, n, k;

	while (p[i] != '\0') {
		n = p[i] < 0x80 ? 1 : p[i] < 0xe0 ? 2 : p[i] < 0xf0 ? 3 : 4;
		cp = n == 1 ? p[i] : p[i] & (0x7f >> n);
		for (k = 1; k < n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				break;
			cp = cp << 6 | (p[i + k] & 0x3f);
		}
		if (k < n) {
			/* Not UTF-8 (jansson's strings are): one byte each. */
			n = 1;
			cp = '?';
		}
		cw = top_draw_cp_width(cp);
		if (w + cw > cols)
			break;
		w += cw;
		i += n;
	}
	*width = w;
	return (i);
}

static int
top_draw_width(const char *s)
{
	int	w;

	top_draw_fit(s, INT_MAX, &w);
	return (w);
}

/* CPU seconds as top(1)'s TIME+ has them: 1:02.03, then 5h07, then 3d. */
static char *
top_draw_time(double t)
{
	long long	 cs, s;
	char		*out;

	if (t < 0)
		return (xstrdup("-"));
	cs = (long long)(t * 100 + 0.5);
	s = cs / 100;
	if (s < 3600)
		xasprintf(&out, "%lld:%02lld.%02lld", s / 60, s % 60, cs % 100);
	else if (s < 100 * 3600)
		xasprintf(&out, "%lldh%02lld", s / 3600, s / 60 % 60);
	else
		xasprintf(&out, "%lldd", s / 86400);
	return (out);
}

/* KiB for people: 812K, 9.5M, 123M, 1.2G. */
static char *
top_draw_rss(long long kib)
{
	double	 m = kib / 1024.0, g = m / 1024.0;
	char	*out;

	if (kib < 0)
		return (xstrdup("-"));
	if (kib < 1024)
		xasprintf(&out, "%lldK", kib);
	else if (m < 10)
		xasprintf(&out, "%.1fM", m);
	else if (m < 1024)
		xasprintf(&out, "%.0fM", m);
	else if (g < 10)
		xasprintf(&out, "%.1fG", g);
	else
		xasprintf(&out, "%.0fG", g);
	return (out);
}

/*
 * UPTIME: how long the process has run, or once it has exited, how long
 * ago it did (the state says which).
 */
static char *
top_draw_uptime(const json_t *job)
{
	time_t	when;
	int	exited;
	char	buf[32];

	exited = json_is_integer(json_object_get(job, PROTO_F_EXITCODE));
	when = format_parse_time(top_draw_str(job, exited ?
	    PROTO_F_EXITED_AT : PROTO_F_STARTED_AT));
	if (when == -1)
		return (xstrdup("-"));
	format_span(time(NULL) - when, buf, sizeof buf);
	return (xstrdup(buf));
}

/* The cells of one job's row, in the order of top_draw_heading. */
static void
top_draw_cells(const struct top *top, const struct top_job *tj,
    char **cells)
{
	const json_t	*job = tj->job;
	json_t		*ready = json_object_get(job, PROTO_F_READY);
	const char	*s;
	char		 buf[64];
	int		 c;

	cells[TOP_ID] = format_cell_int(job, PROTO_F_ID, "-");
	s = top_draw_str(job, PROTO_F_NAME);
	cells[TOP_NAME] = xstrdup(s != NULL ? s : "-");
	/* The owner's name, or its uid when it has none, as list has it. */
	if ((s = top_draw_str(job, PROTO_F_USER)) != NULL)
		cells[TOP_USER] = xstrdup(s);
	else
		cells[TOP_USER] = format_cell_int(job, PROTO_F_UID, "-");
	s = top_draw_str(job, PROTO_F_STATE);
	cells[TOP_STATE] = xstrdup(s != NULL ? s : "?");
	format_exit(job, buf, sizeof buf);
	cells[TOP_EXIT] = xstrdup(*buf != '\0' ? buf : "-");
	cells[TOP_PID] = format_cell_int(job, PROTO_F_PID, "-");
	if (tj->live && tj->cpu >= 0)
		xasprintf(&cells[TOP_CPU], "%.1f", tj->cpu);
	else
		cells[TOP_CPU] = xstrdup("-");
	cells[TOP_TIME] = top_draw_time(top_proc_cpu_time(top, tj));
	cells[TOP_RSS] = top_draw_rss(top_proc_rss(tj));
	cells[TOP_UPTIME] = top_draw_uptime(job);
	cells[TOP_RESTARTS] = format_cell_int(job, PROTO_F_RESTARTS, "-");
	cells[TOP_READY] = xstrdup(!json_is_boolean(ready) ? "-" :
	    json_is_true(ready) ? "yes" : "no");
	cells[TOP_COMMAND] = format_words(json_object_get(job, PROTO_F_ARGV));
	for (c = 0; c < TOP_NCOLUMNS; c++)
		top_draw_clean(cells[c]);
}

/*
 * The cells of the heading and of the first max jobs shown, one row of
 * TOP_NCOLUMNS after another; returns the number of rows.
 */
static size_t
top_draw_rows(const struct top *top, size_t max, char ***cellsp)
{
	char	**cells;
	size_t	  i, n = 0;
	int	  c;

	cells = xcalloc(max < top->njobs ? max + 1 : top->njobs + 1,
	    TOP_NCOLUMNS * sizeof *cells);
	for (c = 0; c < TOP_NCOLUMNS; c++)
		cells[c] = xstrdup(top_draw_heading[c]);
	for (i = 0; i < top->njobs && n < max; i++) {
		if (top_jobs_shown(top, &top->jobs[i]))
			top_draw_cells(top, &top->jobs[i],
			    cells + ++n * TOP_NCOLUMNS);
	}
	*cellsp = cells;
	return (n + 1);
}

static void
top_draw_free(char **cells, size_t nrows)
{
	size_t	i;

	for (i = 0; i < nrows * TOP_NCOLUMNS; i++)
		free(cells[i]);
	free(cells);
}

/* Columns as wide as their widest cell (and on the screen, as above). */
static void
top_draw_widths(char **cells, size_t nrows, int screen, int *width)
{
	size_t	i;
	int	c, w;

	for (c = 0; c < TOP_NCOLUMNS; c++)
		width[c] = screen ? top_draw_min[c] : 0;
	for (i = 0; i < nrows; i++) {
		for (c = 0; c < TOP_NCOLUMNS; c++) {
			w = top_draw_width(cells[i * TOP_NCOLUMNS + c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	if (screen && width[TOP_NAME] > TOP_DRAW_NAME_MAX)
		width[TOP_NAME] = TOP_DRAW_NAME_MAX;
}

/*
 * One row as a line: each cell padded (or cut) to its column's width,
 * two spaces apart, as list lays its table out; the command is last and
 * as long as it is.
 */
static void
top_draw_line(struct top_buf *b, char **row, const int *width)
{
	size_t	n;
	int	c, w;

	for (c = 0; c < TOP_NCOLUMNS - 1; c++) {
		n = top_draw_fit(row[c], width[c], &w);
		if (top_draw_right[c])
			top_buf_spaces(b, width[c] - w);
		top_buf_add(b, row[c], n);
		if (!top_draw_right[c])
			top_buf_spaces(b, width[c] - w);
		top_buf_add(b, "  ", 2);
	}
	top_buf_str(b, row[TOP_NCOLUMNS - 1]);
}

/* The plain table: a heading and one line per job shown. */
void
top_draw_table(struct top *top)
{
	struct top_buf	  line;
	char		**cells;
	size_t		  nrows, i;
	int		  width[TOP_NCOLUMNS];

	nrows = top_draw_rows(top, SIZE_MAX, &cells);
	top_draw_widths(cells, nrows, 0, width);
	memset(&line, 0, sizeof line);
	for (i = 0; i < nrows; i++) {
		line.len = 0;
		top_draw_line(&line, cells + i * TOP_NCOLUMNS, width);
		top_buf_add(&line, "\n", 1);
		fwrite(line.data, 1, line.len, stdout);
	}
	free(line.data);
	top_draw_free(cells, nrows);
}

/* One object per snapshot: the time, and the jobs shown with figures. */
void
top_draw_json(struct top *top)
{
	struct top_job	*tj;
	json_t		*out, *jobs, *job;
	char		 now[64];
	size_t		 i;

	jobs = json_array();
	for (i = 0; i < top->njobs; i++) {
		tj = &top->jobs[i];
		if (!top_jobs_shown(top, tj))
			continue;
		job = json_copy(tj->job);
		/* As many decimals as the table shows: the rest is noise. */
		json_object_set_new(job, "cpu", tj->live && tj->cpu >= 0 ?
		    json_real((double)(long long)(tj->cpu * 10 + 0.5) / 10) :
		    json_null());
		json_object_set_new(job, "cpu_time", tj->live ?
		    json_real(top_proc_cpu_time(top, tj)) : json_null());
		json_object_set_new(job, "rss", tj->live ?
		    json_integer(tj->last.rss) : json_null());
		json_array_append_new(jobs, job);
	}
	format_now(now, sizeof now);
	out = json_pack("{s:s, s:o}", "time", now, "jobs", jobs);
	format_json(out);
	json_decref(out);
}

/*
 * The first line of the screen: procd's version, the jobs by state (all
 * the jobs, whatever --state shows), its clients when it says, the time.
 */
static void
top_draw_title(struct top *top, struct top_buf *b, int cols)
{
	json_t		*clients = json_object_get(top->info, "clients");
	const char	*version = top_draw_str(top->info, "version");
	size_t		 count[PROTO_NSTATES], i, shown;
	char		 buf[128], now[16];
	struct tm	 tm;
	time_t		 t;
	int		 s, first = 1;

	memset(count, 0, sizeof count);
	for (i = 0; i < top->njobs; i++) {
		s = proto_state_parse(top_draw_str(top->jobs[i].job,
		    PROTO_F_STATE));
		if (s >= 0 && s < PROTO_NSTATES)
			count[s]++;
	}
	snprintf(buf, sizeof buf, "procd %s  %zu job%s", version != NULL ?
	    version : "?", top->njobs, top->njobs == 1 ? "" : "s");
	top_buf_str(b, buf);
	for (s = 0; s < PROTO_NSTATES; s++) {
		if (count[s] == 0)
			continue;
		snprintf(buf, sizeof buf, "%s%zu %s", first ? ": " : ", ",
		    count[s], proto_state_name(s));
		top_buf_str(b, buf);
		first = 0;
	}
	if ((shown = top_jobs_count_shown(top)) != top->njobs) {
		snprintf(buf, sizeof buf, " (%zu shown)", shown);
		top_buf_str(b, buf);
	}
	if (json_is_integer(clients)) {
		snprintf(buf, sizeof buf, "  %lld client%s",
		    (long long)json_integer_value(clients),
		    json_integer_value(clients) == 1 ? "" : "s");
		top_buf_str(b, buf);
	}
	t = time(NULL);
	localtime_r(&t, &tm);
	strftime(now, sizeof now, "%H:%M:%S", &tm);
	/* The time goes to the right edge, if it fits. */
	if (top_draw_width(b->data) + 2 + (int)strlen(now) <= cols) {
		top_buf_spaces(b, cols - top_draw_width(b->data) -
		    (int)strlen(now));
		top_buf_str(b, now);
	}
}

/*
 * Adds a line to the frame, cut to the screen's width; with attr (an SGR
 * sequence) it is shown in that, across the whole width. Each line but
 * the first starts on a new one, so the last never scrolls the screen.
 */
static void
top_draw_emit(struct top_buf *frame, const char *text, int cols,
    const char *attr, int *nlines)
{
	size_t	n;
	int	w;

	n = top_draw_fit(text, cols, &w);
	if (*nlines > 0)
		top_buf_str(frame, "\r\n");
	if (attr != NULL)
		top_buf_str(frame, attr);
	top_buf_add(frame, text, n);
	if (attr != NULL) {
		top_buf_spaces(frame, cols - w);
		top_buf_str(frame, "\033[m");
		w = cols;
	}
	/* At the right edge, erasing would take the last character. */
	if (w < cols)
		top_buf_str(frame, "\033[K");
	(*nlines)++;
}

/*
 * Draws the screen without flicker: from the top left corner, each line
 * over the last frame's and cleared to its end, then the rest of the
 * screen cleared, all in one write. When there are more jobs than rows,
 * the last row says how many are not shown.
 */
void
top_draw_screen(struct top *top)
{
	struct top_term	 *t = &top->term;
	struct top_buf	  frame, line;
	char		**cells, buf[64];
	size_t		  shown, visible, nrows, i;
	int		  width[TOP_NCOLUMNS], heading, note, nlines = 0;

	if (!t->active)
		return;
	for (i = 0; i < top->njobs; i++) {
		if (top_jobs_shown(top, &top->jobs[i]))
			top_proc_measure(top, &top->jobs[i], 0);
	}
	/* The title and the heading, then the jobs that fit. */
	shown = top_jobs_count_shown(top);
	heading = t->rows >= 3 || (t->rows == 2 && shown == 0);
	note = 0;
	visible = shown;
	if (shown + 2 > (size_t)t->rows) {
		visible = t->rows >= 3 ? (size_t)t->rows - 3 : 0;
		note = t->rows >= 2;
	}
	nrows = top_draw_rows(top, visible, &cells);
	top_draw_widths(cells, nrows, 1, width);

	memset(&frame, 0, sizeof frame);
	memset(&line, 0, sizeof line);
	if (t->clear)
		top_buf_str(&frame, "\033[2J");
	t->clear = 0;
	top_buf_str(&frame, "\033[H");
	top_draw_title(top, &line, t->cols);
	top_draw_emit(&frame, line.data, t->cols, NULL, &nlines);
	for (i = heading ? 0 : 1; i < nrows; i++) {
		line.len = 0;
		top_draw_line(&line, cells + i * TOP_NCOLUMNS, width);
		top_draw_emit(&frame, line.data, t->cols, i == 0 ? "\033[7m" :
		    NULL, &nlines);
	}
	if (note) {
		snprintf(buf, sizeof buf, "(%zu more job%s not shown: the "
		    "terminal is too small)", shown - visible,
		    shown - visible == 1 ? "" : "s");
		top_draw_emit(&frame, buf, t->cols, NULL, &nlines);
	}
	if (nlines < t->rows) {
		snprintf(buf, sizeof buf, "\033[%d;1H\033[J", nlines + 1);
		top_buf_str(&frame, buf);
	}
	top_term_write(t, frame.data, frame.len);
	free(frame.data);
	free(line.data);
	top_draw_free(cells, nrows);
}
