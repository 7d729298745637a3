/*
 * The launcher installed as /usr/sbin/qm and /usr/sbin/pvesm in the test boots with
 * Proxmox's own code (see pvefb-preload for why): it hands its argv, environment, working
 * directory, umask and its stdin/stdout/stderr to the preloaded interpreter and exits with
 * the status the command had. When the server is not up it runs Proxmox's own script
 * (kept at /usr/lib/pvefb-realpve/bin/NAME) itself, so nothing depends on the server.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SOCK "/run/pvefb-preload.sock"
#define REAL "/usr/lib/pvefb-realpve/bin/"

extern char **environ;

static int send_fd(int s, int fd)
{
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(s, &m, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* The message grows as it is built; every part ends with a NUL. */
static char *msg;
static size_t len, cap;
static void put(const char *s)
{
	size_t n = strlen(s) + 1;
	if (len + n > cap) {
		cap = (len + n) * 2;
		msg = realloc(msg, cap);
		if (!msg)
			exit(255);
	}
	memcpy(msg + len, s, n);
	len += n;
}

static void fallback(const char *name, char **argv)
{
	char path[256];
	snprintf(path, sizeof(path), REAL "%s", name);
	execv(path, argv);
	fprintf(stderr, "%s: cannot run %s: %s\n", name, path, strerror(errno));
	exit(255);
}

int main(int argc, char **argv)
{
	char *name = basename(argv[0]);
	struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = SOCK };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		fallback(name, argv);
	for (int fd = 0; fd <= 2; fd++) {
		/* A closed descriptor goes as /dev/null, as the shell would leave it. */
		int f = fcntl(fd, F_GETFD) < 0 ? open("/dev/null", O_RDWR | O_CLOEXEC) : fd;
		if (f < 0 || send_fd(s, f) < 0)
			fallback(name, argv);
	}
	char buf[PATH_MAX + 1], num[32];
	put(name);
	put(getcwd(buf, sizeof(buf)) ? buf : "/");
	mode_t um = umask(0);
	umask(um);
	snprintf(num, sizeof(num), "%o", um);
	put(num);
	snprintf(num, sizeof(num), "%d", argc - 1);
	put(num);
	for (int i = 1; i < argc; i++)
		put(argv[i]);
	for (char **e = environ; *e; e++)
		put(*e);
	for (size_t off = 0; off < len;) {
		ssize_t n = send(s, msg + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			fprintf(stderr, "%s: lost the preload server: %s\n", name, strerror(errno));
			return 255;
		}
		off += n;
	}
	shutdown(s, SHUT_WR);
	char st[16] = "";
	ssize_t n = 0, r;
	while (n < (ssize_t)sizeof(st) - 1 && (r = read(s, st + n, sizeof(st) - 1 - n)) > 0)
		n += r;
	if (n <= 0) {
		fprintf(stderr, "%s: the preload server gave no exit status\n", name);
		return 255;
	}
	return atoi(st);
}
