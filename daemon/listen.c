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

#define LISTEN_MAX		16	/* as struct listen_handoff holds */
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
static int		 listen_dirfd = -1;	/* ... in this folder */
static char		*listen_name;		/* ... under this name */
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
 * Opens the socket's folder, refusing one another user could swap
 * things in: never a symlink; for the default path, procd's own and
 * writable by no one else; for a path the user chose, not writable by
 * others unless sticky. The checks are made on the open folder itself.
 */
static int
listen_open_dir(const char *dir, int chosen)
{
	struct stat	lsb, sb;
	uid_t		uid = geteuid();
	int		dfd;

	if (lstat(dir, &lsb) == -1)
		fatal("cannot check the socket's folder %s", dir);
	if (S_ISLNK(lsb.st_mode))
		fatalx("%s: the socket's folder is a symlink; procd will not "
		    "use it", dir);
	if (!S_ISDIR(lsb.st_mode))
		fatalx("%s: the socket's folder is not a folder", dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1)
		fatal("cannot open the socket's folder %s", dir);
	if (fstat(dfd, &sb) == -1)
		fatal("cannot check the socket's folder %s", dir);
	if (sb.st_dev != lsb.st_dev || sb.st_ino != lsb.st_ino)
		fatalx("%s: the socket's folder changed while procd checked "
		    "it", dir);
	if (!chosen && sb.st_uid != uid)
		fatalx("%s: the socket's folder is owned by uid %u, not by "
		    "procd's uid %u; procd will not use it", dir,
		    (unsigned)sb.st_uid, (unsigned)uid);
	if (!chosen && (sb.st_mode & (S_IWGRP | S_IWOTH)))
		fatalx("%s: the socket's folder is writable by others (mode "
		    "%04o); only its owner may write it", dir,
		    (unsigned)(sb.st_mode & 07777));
	if (chosen && (sb.st_mode & S_IWOTH) && !(sb.st_mode & S_ISVTX))
		fatalx("%s: the socket's folder is writable by everyone and "
		    "not sticky (mode %04o); procd will not use it", dir,
		    (unsigned)(sb.st_mode & 07777));
	return (dfd);
}

/*
 * Deals with whatever is at name in the socket's folder already: a live
 * daemon or something that is not a socket stops procd; a stale socket
 * is removed.
 */
static void
listen_clear(const char *path, const char *name)
{
	struct stat	sb;
	int		fd;

	if (fstatat(listen_dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT)
			return;
		fatal("cannot check %s", path);
	}
	if (!S_ISSOCK(sb.st_mode))
		fatalx("%s exists and is not a socket; not touching it", path);
	/* A full queue is a daemon too, one that is not accepting. */
	if ((fd = proto_connect(path, 1)) != -1 || errno == EAGAIN)
		fatalx("another procd is already listening on %s", path);
	if (errno != ECONNREFUSED)
		fatal("cannot check socket %s", path);
	log_info("removing stale socket %s", path);
	if (unlinkat(listen_dirfd, name, 0) == -1 && errno != ENOENT)
		fatal("cannot remove stale socket %s", path);
}

/*
 * Gives the new socket its group, and its mode if the folder's default
 * ACL overrode the umask, without following a symlink swapped in for
 * it; notes which file it is, to remove only that one.
 */
static void
listen_finish_file(const char *path, const char *name, mode_t mode)
{
	struct stat	sb;

	if (procd_config.socket_gid != (gid_t)-1 && fchownat(listen_dirfd,
	    name, (uid_t)-1, procd_config.socket_gid, AT_SYMLINK_NOFOLLOW) ==
	    -1)
		fatal("cannot set the group of %s", path);
	if (fstatat(listen_dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == -1)
		fatal("cannot check %s", path);
	if (!S_ISSOCK(sb.st_mode))
		fatalx("%s was replaced after bind", path);
	if ((sb.st_mode & 0777) != mode && fchmodat(listen_dirfd, name, mode,
	    AT_SYMLINK_NOFOLLOW) == -1)
		fatal("cannot set the mode of %s", path);
	listen_dev = sb.st_dev;
	listen_ino = sb.st_ino;
	listen_owned = 1;
}

/*
 * Binds path with mode, set through the umask: no chmod by name after
 * bind. It is bound by its full name, the one peers see; the folder it
 * names was checked, and the file is checked again through the folder.
 */
static int
listen_bind(const char *path, mode_t mode)
{
	struct sockaddr_un	sun;
	mode_t			old;
	int			fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		fatal("socket");
	old = umask(~mode & 0777);
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1)
		fatal("cannot bind %s", path);
	umask(old);
	return (fd);
}

/*
 * Creates the socket at path. Its folder is opened and checked once;
 * everything after bind goes through that open folder, so no name
 * resolved later can lead elsewhere.
 */
static void
listen_create(const char *path, int chosen)
{
	struct sockaddr_un	 sun;
	const char		*name;
	char			*dir;
	mode_t			 mode;
	int			 fd;

	if (strlen(path) >= sizeof sun.sun_path)
		fatalx("socket path too long: %s", path);
	listen_mkdirs(path);
	dir = xstrdup(path);
	if ((name = strrchr(path, '/')) == NULL) {
		name = path;
		strcpy(dir, ".");
	} else {
		name++;
		dir[name - path - 1 == 0 ? 1 : name - path - 1] = '\0';
	}
	if (*name == '\0')
		fatalx("socket path names a folder: %s", path);
	listen_dirfd = listen_open_dir(dir, chosen);
	free(dir);
	listen_clear(path, name);
	/* A group given without a mode means the group may connect. */
	mode = 0600;
	if (procd_config.socket_mode != -1)
		mode = procd_config.socket_mode;
	else if (procd_config.socket_gid != (gid_t)-1)
		mode = 0660;
	fd = listen_bind(path, mode);
	listen_finish_file(path, name, mode);
	listen_name = xstrdup(name);
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
listen_init(const char *path, int chosen)
{
	int	n, fd;

	listen_retry = evtimer_new(procd_base, listen_retry_cb, NULL);
	n = sd_listen_fds(1);
	if (n < 0)
		fatalx("sd_listen_fds: %s", strerror(-n));
	if (n == 0) {
		listen_create(path, chosen);
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

	if (!listen_owned || listen_name == NULL)
		return;
	if (fstatat(listen_dirfd, listen_name, &sb, AT_SYMLINK_NOFOLLOW) ==
	    -1) {
		log_warn("cannot remove %s", listen_path);
		return;
	}
	if (sb.st_dev != listen_dev || sb.st_ino != listen_ino) {
		log_warnx("%s was replaced since procd created it; "
		    "leaving it", listen_path);
		return;
	}
	if (unlinkat(listen_dirfd, listen_name, 0) == -1)
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
	if (listen_dirfd != -1)
		close(listen_dirfd);
	listen_dirfd = -1;
	free(listen_name);
	listen_name = NULL;
	if (listen_retry != NULL)
		event_free(listen_retry);
	listen_retry = NULL;
	free(listen_path);
	listen_path = NULL;
}

/*
 * The peer's supplementary groups, as the kernel recorded them at
 * connect (SO_PEERGROUPS). Returns them (malloc'd) with *n, or NULL with
 * errno set.
 */
static gid_t *
listen_peer_groups(int cfd, size_t *n)
{
	gid_t		*groups = NULL;
	socklen_t	 len = 64 * sizeof *groups;

	for (;;) {
		groups = xreallocarray(groups, len / sizeof *groups + 1,
		    sizeof *groups);
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &len) == 0)
			break;
		if (errno != ERANGE) {
			free(groups);
			return (NULL);
		}
	}
	*n = len / sizeof *groups;
	return (groups);
}

/*
 * Who may connect: anyone to a root procd (the socket's mode decides who
 * can reach it), only root and procd's own uid to any other; within the
 * limits on clients, overall and per user (root is exempt from the
 * latter). Identity is read once, here, from the kernel.
 */
static void
listen_accept_one(int cfd)
{
	struct ucred	 uc;
	struct user	*u;
	socklen_t	 len = sizeof uc;
	gid_t		*groups = NULL;
	size_t		 ngroups = 0;
	char		 msg[128];

	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == -1) {
		log_warn("SO_PEERCRED");
		close(cfd);
		return;
	}
	if (!user_procd_is_root() && uc.uid != 0 && uc.uid != geteuid()) {
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
	if (uc.uid != 0 && (u = user_find(uc.uid)) != NULL &&
	    u->clients >= procd_config.max_clients_per_user) {
		log_warnx("refused uid %u pid %ld: %zu clients of that uid "
		    "already", (unsigned)uc.uid, (long)uc.pid,
		    procd_config.max_clients_per_user);
		snprintf(msg, sizeof msg, "too many clients of uid %u (limit "
		    "%zu)", (unsigned)uc.uid, procd_config.max_clients_per_user);
		client_refuse(cfd, PROTO_LIMIT, msg);
		return;
	}
	/* Only a root procd runs jobs as their owners, with these. */
	if (user_procd_is_root() && uc.uid != 0 &&
	    (groups = listen_peer_groups(cfd, &ngroups)) == NULL) {
		log_warn("SO_PEERGROUPS");
		close(cfd);
		return;
	}
	client_accept(cfd, &uc, groups, ngroups);
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

/* The peer of a handed-over connection, read from the kernel again. */
int
listen_peer(int cfd, struct ucred *uc, gid_t **groups, size_t *ngroups)
{
	socklen_t	len = sizeof *uc;

	*groups = NULL;
	*ngroups = 0;
	if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, uc, &len) == -1)
		return (-1);
	if (user_procd_is_root() && uc->uid != 0 &&
	    (*groups = listen_peer_groups(cfd, ngroups)) == NULL)
		return (-1);
	return (0);
}

void
listen_handoff_get(struct listen_handoff *lh)
{
	int	i;

	memset(lh, 0, sizeof *lh);
	for (i = 0; i < listeners_count; i++)
		lh->fds[i] = listeners[i].fd;
	lh->nfds = listeners_count;
	lh->path = listen_path;
	lh->owned = listen_owned;
	lh->dirfd = listen_dirfd;
	lh->name = listen_name;
	lh->dev = listen_dev;
	lh->ino = listen_ino;
}

/* Takes over the sockets and the file a previous image listened with. */
void
listen_handoff_set(const struct listen_handoff *lh)
{
	int	i;

	listen_retry = evtimer_new(procd_base, listen_retry_cb, NULL);
	for (i = 0; i < lh->nfds; i++)
		listen_add(lh->fds[i]);
	listen_path = xstrdup(lh->path);
	listen_owned = lh->owned;
	listen_dirfd = lh->dirfd;
	listen_name = lh->name != NULL ? xstrdup(lh->name) : NULL;
	listen_dev = lh->dev;
	listen_ino = lh->ino;
}
