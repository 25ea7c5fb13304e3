/* SPDX-License-Identifier: ISC */
/*
 * Telling the service manager how procd is doing: READY=1, STATUS= with
 * the job counts, STOPPING=1, and WATCHDOG=1 at half the interval asked
 * for. STATUS= is sent once per loop turn however many jobs changed.
 *
 * READY=1 and STOPPING=1 happen once and must arrive: sd_notify sends
 * them, waiting if it has to. STATUS= and WATCHDOG=1 repeat, and the next
 * one says all the last one did, so they go without waiting: a manager
 * (or a test) that stops reading its socket fills the queue, and procd
 * must not stop serving its clients for that. A STATUS= that finds the
 * queue full is tried again NOTIFY_RETRY_MS later.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "procd.h"

#define NOTIFY_RETRY_MS	100

static int		 notify_enabled;
static int		 notify_fd = -1;	/* -1: sd_notify sends all */
static struct sockaddr_un notify_addr;
static socklen_t	 notify_addrlen;
static struct event	*notify_status_event;
static struct event	*notify_watchdog_event;

/*
 * Opens a non-blocking socket to NOTIFY_SOCKET if it names a path or an
 * abstract socket ("@..."); for any other form sd_notify sends everything.
 */
static void
notify_open(const char *where)
{
	size_t	len = strlen(where);

	if ((where[0] != '/' && where[0] != '@') || len < 2 ||
	    len >= sizeof notify_addr.sun_path)
		return;
	memset(&notify_addr, 0, sizeof notify_addr);
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, where, len);
	notify_addrlen = offsetof(struct sockaddr_un, sun_path) + len;
	if (where[0] == '@')
		notify_addr.sun_path[0] = '\0';
	else
		notify_addrlen++;		/* the path's NUL */
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (notify_fd == -1)
		log_warn("notify socket");
}

/* Sends msg without waiting. Returns 0, or -1 if it must be tried again. */
static int
notify_send(const char *msg)
{
	if (notify_fd == -1) {
		sd_notify(0, msg);
		return (0);
	}
	if (sendto(notify_fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_addrlen) != -1)
		return (0);
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (-1);
	log_debug("notify: %s", strerror(errno));
	return (0);
}

static void
notify_status(int fd, short events, void *arg)
{
	struct timeval	tv = { 0, NOTIFY_RETRY_MS * 1000 };
	char		buf[160];

	snprintf(buf, sizeof buf, "STATUS=%u running, %u stopping, "
	    "%u restarting, %u waiting, %u exited%s",
	    jobs_state_count[PROTO_RUNNING],
	    jobs_state_count[PROTO_STOPPING_STATE],
	    jobs_state_count[PROTO_RESTARTING],
	    jobs_state_count[PROTO_WAITING], jobs_state_count[PROTO_EXITED],
	    procd_stopping ? " (stopping)" : "");
	if (notify_send(buf) == -1)
		event_add(notify_status_event, &tv);
}

static void
notify_watchdog(int fd, short events, void *arg)
{
	notify_send("WATCHDOG=1");
}

void
notify_init(void)
{
	struct timeval	 tv;
	uint64_t	 usec;
	const char	*where;

	if ((where = getenv("NOTIFY_SOCKET")) == NULL)
		return;
	notify_enabled = 1;
	notify_open(where);
	notify_status_event = event_new(procd_base, -1, 0, notify_status,
	    NULL);
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		usec /= 2;
		tv.tv_sec = usec / 1000000;
		tv.tv_usec = usec % 1000000;
		notify_watchdog_event = event_new(procd_base, -1, EV_PERSIST,
		    notify_watchdog, NULL);
		event_add(notify_watchdog_event, &tv);
		log_debug("watchdog every %llu us", (unsigned long long)usec);
	}
}

void
notify_ready(void)
{
	if (!notify_enabled)
		return;
	sd_notify(0, "READY=1");
	notify_status(-1, 0, NULL);
}

void
notify_stopping(void)
{
	if (!notify_enabled)
		return;
	sd_notify(0, "STOPPING=1");
	notify_jobs_changed();
}

void
notify_jobs_changed(void)
{
	/*
	 * Activating an event that is already active does nothing more; one
	 * waiting to retry is sent now, and sends the newest counts.
	 */
	if (notify_enabled)
		event_active(notify_status_event, EV_TIMEOUT, 0);
}

void
notify_free(void)
{
	if (notify_status_event != NULL)
		event_free(notify_status_event);
	if (notify_watchdog_event != NULL)
		event_free(notify_watchdog_event);
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}

/* A reexec is about to replace procd's image; READY=1 follows from it. */
void
notify_reloading(void)
{
	struct timespec	now;

	if (!notify_enabled)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)now.tv_sec * 1000000ULL + now.tv_nsec / 1000);
}
