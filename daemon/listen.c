/* SPDX-License-Identifier: ISC */
/*
 * The listening sockets: those systemd passes (socket activation), or one
 * procd creates itself. Accepting reads the peer's credentials, refuses
 * other users and clients past the limit, and backs off on EMFILE instead
 * of spinning.
 */

#include "config.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "procd.h"

#define LISTEN_MAX		16
#define LISTEN_BACKLOG		4096
#define LISTEN_ACCEPT_BURST	64

struct listener {
	int		 fd;
	struct event	*ev;
};

static struct listener	 listeners[LISTEN_MAX];
static int		 listeners_count;
static char		*listen_path;		/* shown by info */
static int		 listen_owned;		/* 1: procd made the file */
static dev_t		 listen_dev;		/* ... and it is this one */
static ino_t		 listen_ino;
static int		 listen_paused;
static struct event	*listen_retry;

static void	listen_accept(int, short, void *);

const char *
listen_socket_path(void)
{
	return (listen_path);
}

static void
listen_add(int fd)
{
	struct listener	*l;

	if (listeners_count == LISTEN_MAX)
		fatalx("more than %d listening sockets", LISTEN_MAX);
	l = &listeners[listeners_count++];
	l->fd = fd;
	l->ev = event_new(procd_base, fd, EV_READ | EV_PERSIST, listen_accept,
	    NULL);
	if (l->ev == NULL || event_add(l->ev, NULL) == -1)
		fatalx("cannot watch listening socket %d", fd);
}

/* Creates the missing folders above path, 0700. */
static void
listen_mkdirs(const char *path)
{
	char	*copy, *p;

	copy = xstrdup(path);
	for (p = copy + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(copy, 0700) == -1 && errno != EEXIST)
			fatal("cannot create folder %s", copy);
		*p = '/';
	}
	free(copy);
}

/*
 * Deals with whatever is at path already: a live daemon or something that
 * is not a socket stops procd; a stale socket is removed.
 */
static void
listen_clear(const char *path)
{
	struct stat	sb;
	int		fd;

	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT)
			return;
		fatal("cannot check %s", path);
	}
	if (!S_ISSOCK(sb.st_mode))
		fatalx("%s exists and is not a socket; not touching it", path);
	if ((fd = proto_connect(path)) != -1)
		fatalx("another procd is already listening on %s", path);
	if (errno != ECONNREFUSED)
		fatal("cannot check socket %s", path);
	log_info("removing stale socket %s", path);
	if (unlink(path) == -1 && errno != ENOENT)
		fatal("cannot remove stale socket %s", path);
}

/* Notes which file procd's bind made, to remove only that one. */
static void
listen_remember(const char *path)
{
	struct stat	sb;

	if (lstat(path, &sb) == -1)
		fatal("cannot check %s", path);
	listen_dev = sb.st_dev;
	listen_ino = sb.st_ino;
	listen_owned = 1;
}

static void
listen_create(const char *path)
{
	struct sockaddr_un	sun;
	mode_t			old;
	int			fd, mode;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		fatalx("socket path too long: %s", path);
	strcpy(sun.sun_path, path);
	listen_mkdirs(path);
	listen_clear(path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		fatal("cannot bind %s", path);
	umask(old);
	listen_remember(path);
	/* A group given without a mode means the group may connect. */
	mode = procd_config.socket_mode;
	if (mode == -1 && procd_config.socket_gid != (gid_t)-1)
		mode = 0660;
	if (mode != -1 && chmod(path, mode) == -1)
		fatal("chmod %s", path);
	if (procd_config.socket_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, procd_config.socket_gid) == -1)
		fatal("chown %s", path);
	if (listen(fd, LISTEN_BACKLOG) == -1)
		fatal("listen %s", path);
	listen_path = xstrdup(path);
	listen_add(fd);
	log_info("listening on %s", path);
}

/* The path a passed socket is bound to, or NULL. */
static char *
listen_bound_path(int fd)
{
	struct sockaddr_un	sun;
	socklen_t		len = sizeof sun;

	memset(&sun, 0, sizeof sun);
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == -1 ||
	    sun.sun_family != AF_UNIX || sun.sun_path[0] == '\0')
		return (NULL);
	return (xstrdup(sun.sun_path));
}

static void
listen_retry_cb(int fd, short events, void *arg)
{
	listen_resume();
}

void
listen_init(const char *path)
{
	int	n, fd;

	listen_retry = evtimer_new(procd_base, listen_retry_cb, NULL);
	n = sd_listen_fds(1);
	if (n < 0)
		fatalx("sd_listen_fds: %s", strerror(-n));
	if (n == 0) {
		listen_create(path);
		return;
	}
	for (fd = SD_LISTEN_FDS_START; fd < SD_LISTEN_FDS_START + n; fd++) {
		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
			log_warnx("passed fd %d is not a listening stream "
			    "socket; ignored", fd);
			continue;
		}
		if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1)
			fatal("fcntl");
		if (listen_path == NULL)
			listen_path = listen_bound_path(fd);
		listen_add(fd);
	}
	if (listeners_count == 0)
		fatalx("socket activation passed no stream socket");
	if (listen_path == NULL)
		listen_path = xstrdup(path);
	log_info("serving %d socket(s) passed by the service manager, "
	    "first %s", listeners_count, listen_path);
}

void
listen_pause(void)
{
	struct timeval	tv = { 1, 0 };
	int		i;

	if (listen_paused)
		return;
	listen_paused = 1;
	for (i = 0; i < listeners_count; i++)
		event_del(listeners[i].ev);
	evtimer_add(listen_retry, &tv);
}

/* Accepts again, after a pause for lack of fds. */
void
listen_resume(void)
{
	int	i;

	if (!listen_paused)
		return;
	listen_paused = 0;
	evtimer_del(listen_retry);
	for (i = 0; i < listeners_count; i++)
		event_add(listeners[i].ev, NULL);
}

/*
 * Removes the socket file procd created, if it is still that file: someone
 * may have replaced it since (another procd's socket, or a file of their
 * own), and that is not procd's to delete.
 */
static void
listen_unlink(void)
{
	struct stat	sb;

	if (!listen_owned || listen_path == NULL)
		return;
	if (lstat(listen_path, &sb) == -1) {
		log_warn("cannot remove %s", listen_path);
		return;
	}
	if (sb.st_dev != listen_dev || sb.st_ino != listen_ino) {
		log_warnx("%s was replaced since procd created it; "
		    "leaving it", listen_path);
		return;
	}
	if (unlink(listen_path) == -1)
		log_warn("cannot remove %s", listen_path);
}

/* Stops listening; removes the socket file only if procd created it. */
void
listen_close(void)
{
	int	i;

	for (i = 0; i < listeners_count; i++) {
		event_free(listeners[i].ev);
		close(listeners[i].fd);
	}
	listeners_count = 0;
	listen_paused = 0;
	listen_unlink();
	listen_owned = 0;
	if (listen_retry != NULL)
		event_free(listen_retry);
	listen_retry = NULL;
	free(listen_path);
	listen_path = NULL;
}

static void
listen_accept_one(int cfd)
{
	struct ucred	uc;
	socklen_t	len = sizeof uc;
	char		msg[128];

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(cfd);
		return;
	}
	if (uc.uid != 0 && uc.uid != getuid()) {
		log_info("refused uid %u pid %ld", (unsigned)uc.uid,
		    (long)uc.pid);
		snprintf(msg, sizeof msg, "permission denied: uid %u may not "
		    "use this procd", (unsigned)uc.uid);
		client_refuse(cfd, PROTO_PERMISSION, msg);
		return;
	}
	if (clients_count >= procd_config.max_clients) {
		log_warnx("refused uid %u pid %ld: %zu clients already",
		    (unsigned)uc.uid, (long)uc.pid, procd_config.max_clients);
		snprintf(msg, sizeof msg, "too many clients (limit %zu)",
		    procd_config.max_clients);
		client_refuse(cfd, PROTO_LIMIT, msg);
		return;
	}
	client_accept(cfd, uc.uid, uc.pid);
}

static void
listen_accept(int fd, short events, void *arg)
{
	int	cfd, i;

	for (i = 0; i < LISTEN_ACCEPT_BURST; i++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd != -1) {
			listen_accept_one(cfd);
			continue;
		}
		switch (errno) {
		case EINTR:
		case ECONNABORTED:
			continue;
		case EMFILE:
		case ENFILE:
		case ENOBUFS:
		case ENOMEM:
			/* Retry in a second or when a client closes. */
			log_warn("accept paused");
			listen_pause();
			return;
		default:
			return;
		}
	}
}
