/* SPDX-License-Identifier: ISC */
/*
 * procctl top's terminal: raw mode for single keys, the alternate screen
 * (so the shell's screen comes back as it was), no cursor and no line
 * wrap while top draws; and all of it undone on every way out, exit()
 * included. Plain ANSI escape sequences: no curses library needed.
 */

#include "config.h"

#include <sys/ioctl.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "procctl.h"
#include "top.h"

/* Alternate screen on, cursor hidden, line wrap off, screen cleared. */
#define TOP_TERM_ENTER	"\033[?1049h\033[?25l\033[?7l\033[H\033[2J"
/* The reverse, in the reverse order. */
#define TOP_TERM_LEAVE	"\033[?7h\033[?25h\033[?1049l"

/* The terminal to give back if procctl exits while top has it. */
static struct top_term	*top_term_current;

static void
top_term_atexit(void)
{
	if (top_term_current != NULL)
		top_term_leave(top_term_current);
}

/* Writes all of data; a terminal that is gone is left to the keys to see. */
void
top_term_write(struct top_term *t, const char *data, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		n = write(t->out, data, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		data += n;
		len -= n;
	}
}

/* Reads the window's size; 80x24 when the terminal does not say. */
void
top_term_size(struct top_term *t)
{
	struct winsize	ws;

	if (ioctl(t->out, TIOCGWINSZ, &ws) == -1 || ws.ws_row == 0 ||
	    ws.ws_col == 0) {
		t->rows = 24;
		t->cols = 80;
		return;
	}
	t->rows = ws.ws_row;
	t->cols = ws.ws_col;
}

/*
 * Takes the terminal: keys come one at a time, unechoed, and Ctrl-C,
 * Ctrl-Z and Ctrl-S arrive as keys (top acts on them itself). Keys are
 * read only when standard input is the terminal.
 */
int
top_term_enter(struct top_term *t)
{
	static int	registered;
	struct termios	raw;

	t->out = STDOUT_FILENO;
	t->in = isatty(STDIN_FILENO) ? STDIN_FILENO : -1;
	t->raw = 0;
	if (t->in != -1 && tcgetattr(t->in, &t->saved) == 0) {
		raw = t->saved;
		raw.c_lflag &= ~(ICANON | ECHO | ISIG | IEXTEN);
		raw.c_iflag &= ~(IXON | ICRNL | INLCR | IGNCR);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		if (tcsetattr(t->in, TCSADRAIN, &raw) == -1)
			return (-1);
		t->raw = 1;
	}
	if (!registered && atexit(top_term_atexit) == 0)
		registered = 1;
	top_term_current = t;
	t->active = 1;
	top_term_size(t);
	top_term_write(t, TOP_TERM_ENTER, strlen(TOP_TERM_ENTER));
	t->clear = 0;
	return (0);
}

/* Gives the terminal back as it was. */
void
top_term_leave(struct top_term *t)
{
	int	error = errno;

	if (!t->active)
		return;
	t->active = 0;
	top_term_current = NULL;
	top_term_write(t, TOP_TERM_LEAVE, strlen(TOP_TERM_LEAVE));
	if (t->raw)
		tcsetattr(t->in, TCSADRAIN, &t->saved);
	t->raw = 0;
	errno = error;
}

/*
 * Ctrl-Z: gives the terminal back and stops, as the shell expects; once
 * continued (fg), takes it again and starts the next frame from blank.
 * -1 if it cannot be taken again.
 */
int
top_term_suspend(struct top_term *t)
{
	top_term_leave(t);
	kill(getpid(), SIGTSTP);
	if (top_term_enter(t) == -1)
		return (-1);
	t->clear = 1;
	return (0);
}
