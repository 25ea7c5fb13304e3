/* SPDX-License-Identifier: ISC */
/*
 * Telling the service manager how procd is doing: READY=1, STATUS= with
 * the job counts, STOPPING=1, and WATCHDOG=1 at half the interval asked
 * for. STATUS= is sent once per loop turn however many jobs changed.
 */

#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-daemon.h>

#include "procd.h"

static int		 notify_enabled;
static struct event	*notify_status_event;
static struct event	*notify_watchdog_event;

static void
notify_status(int fd, short events, void *arg)
{
	char	buf[160];

	snprintf(buf, sizeof buf, "STATUS=%u running, %u stopping, "
	    "%u waiting, %u exited%s", jobs_state_count[PROTO_RUNNING],
	    jobs_state_count[PROTO_STOPPING_STATE],
	    jobs_state_count[PROTO_WAITING], jobs_state_count[PROTO_EXITED],
	    procd_stopping ? " (stopping)" : "");
	sd_notify(0, buf);
}

static void
notify_watchdog(int fd, short events, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

void
notify_init(void)
{
	struct timeval	tv;
	uint64_t	usec;

	notify_enabled = getenv("NOTIFY_SOCKET") != NULL;
	if (!notify_enabled)
		return;
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
	/* Activating an event that is already active does nothing more. */
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
}
