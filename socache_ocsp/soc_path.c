/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "soc_path.h"

#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <signal.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
#define MAX_LINKS 40

__attribute__((format(printf, 3, 4)))
static void fail(soc_walk *out, int err, const char *fmt, ...)
{
    va_list ap;
    out->err = err;
    va_start(ap, fmt);
    vsnprintf(out->msg, sizeof(out->msg), fmt, ap);
    va_end(ap);
}

/* May a symlink lnk found in directory d be followed? Only if no one but
 * root (or this process's user) can have put it there or change it. */
static int trusted_link(const struct stat *d, const struct stat *lnk)
{
    uid_t me = geteuid();
    if (d->st_uid != 0 && d->st_uid != me)
        return 0;
    if (!(d->st_mode & S_IWOTH) && (!(d->st_mode & S_IWGRP) || d->st_gid == 0))
        return 1;
    /* a sticky directory such as /tmp: only the link's owner can replace it */
    return (d->st_mode & S_ISVTX) && (lnk->st_uid == 0 || lnk->st_uid == me);
}

/* Whether fd holds no entries: a directory this walk just created does. */
static int is_empty(int fd)
{
    int dup = openat(fd, ".", DIR_FLAGS);
    DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
    struct dirent *e;
    int empty = 1;
    if (!d) {
        if (dup >= 0)
            close(dup);
        return 0;
    }
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

/* Pseudo file systems where mkdir cannot work, whatever the permissions say. */
static const char *pseudo_fs(int fd)
{
    struct statfs fs;
    if (fstatfs(fd, &fs) < 0)
        return NULL;
    switch ((unsigned long)fs.f_type) {
    case PROC_SUPER_MAGIC: return "proc";
    case SYSFS_MAGIC: return "sysfs";
    case CGROUP_SUPER_MAGIC: case CGROUP2_SUPER_MAGIC: return "cgroup";
    case DEBUGFS_MAGIC: return "debugfs";
    case SECURITYFS_MAGIC: return "securityfs";
    case DEVPTS_SUPER_MAGIC: return "devpts";
    case BPF_FS_MAGIC: return "bpf";
    case TRACEFS_MAGIC: return "tracefs";
    }
    return NULL;
}

/* Could a directory be created in fd? Decided without creating anything. */
static int creatable(int fd, const char *where, const char *path, soc_walk *out)
{
    struct statvfs vfs;
    const char *pseudo = pseudo_fs(fd);
    if (pseudo) {
        fail(out, EPERM, "cannot create %s (%s is on a %s file system)", path, where, pseudo);
        return 0;
    }
    if (fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        fail(out, EROFS, "cannot create %s (%s: %s)", path, where, strerror(EROFS));
        return 0;
    }
    if (faccessat(fd, ".", W_OK | X_OK, AT_EACCESS) < 0) {
        int e = errno;
        fail(out, e, "cannot create %s (%s: %s)", path, where, strerror(e));
        return 0;
    }
    return 1;
}

void soc_dir_walk(const char *path, int flags, long uid, long gid, soc_walk *out)
{
    char rest[2 * PATH_MAX + 2], done[PATH_MAX + 1] = "", name[NAME_MAX + 1];
    char *p = rest;
    int fd, links = 0, retries = 0;
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    if (!path || path[0] != '/' || strlen(path) >= PATH_MAX) {
        fail(out, EINVAL, "%s: not an absolute path", path ? path : "(null)");
        return;
    }
    snprintf(rest, sizeof(rest), "%s", path);
    if ((fd = open("/", DIR_FLAGS)) < 0) {
        fail(out, errno, "cannot open / (%s)", strerror(errno));
        return;
    }
    for (;;) {
        struct stat lst, st;
        size_t len, dlen;
        int last, nfd;
        while (*p == '/')
            p++;
        if (!*p)
            break;
        len = strcspn(p, "/");
        if (len > NAME_MAX) {
            fail(out, ENAMETOOLONG, "%s: a component is too long", path);
            break;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        p += len;
        last = p[strspn(p, "/")] == '\0';
        if (!strcmp(name, "."))
            continue;
        dlen = strlen(done);
        if (dlen + 1 + len >= sizeof(done)) {
            fail(out, ENAMETOOLONG, "%s: path too long", path);
            break;
        }
        snprintf(done + dlen, sizeof(done) - dlen, "/%s", name);
    again:
        if (fstatat(fd, name, &lst, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT) {
                fail(out, errno, "cannot examine %s (%s)", done, strerror(errno));
                break;
            }
            if (flags & SOC_WALK_PROBE) {
                /* the rest would be created from here on */
                char parent[PATH_MAX + 1];
                snprintf(parent, sizeof(parent), "%.*s", (int)dlen, done);
                if (creatable(fd, dlen ? parent : "/", path, out))
                    out->missing = 1;
                break;
            }
            if (!(flags & SOC_WALK_CREATE)) {
                fail(out, ENOENT, "%s does not exist", done);
                break;
            }
            if (mkdirat(fd, name, 0700) < 0) {
                if (errno == EEXIST && retries++ < 3)
                    goto again;  /* created by someone else meanwhile: look again */
                fail(out, errno, "cannot create %s (%s)", done, strerror(errno));
                break;
            }
            nfd = openat(fd, name, DIR_FLAGS);
            /* what we open must be what we just made: ours, and empty */
            if (nfd < 0 || fstat(nfd, &st) < 0 || st.st_uid != geteuid() || !is_empty(nfd)) {
                if (nfd >= 0)
                    close(nfd);
                fail(out, EAGAIN, "%s changed while it was being created", done);
                break;
            }
            if (last && uid >= 0 && geteuid() == 0 && fchown(nfd, (uid_t)uid, (gid_t)gid) < 0) {
                fail(out, errno, "cannot hand %s to the server's user (%s)", done, strerror(errno));
                close(nfd);
                break;
            }
            /* explicit modes: the umask must not lock the server's user out */
            if (fchmod(nfd, last ? 0700 : 0755) < 0) {
                fail(out, errno, "cannot set the mode of %s (%s)", done, strerror(errno));
                close(nfd);
                break;
            }
            out->created = last;
            close(fd);
            fd = nfd;
            continue;
        }
        if (S_ISLNK(lst.st_mode)) {
            char target[PATH_MAX + 1], joined[sizeof(rest)];
            ssize_t n;
            if (last) {
                fail(out, ELOOP, "%s is a symbolic link, not a directory; refused (remove it and "
                     "it is created as a directory)", done);
                break;
            }
            if (fstat(fd, &st) < 0 || !trusted_link(&st, &lst)) {
                fail(out, ELOOP, "%s is a symbolic link in a directory that users other than root "
                     "can change; not followed", done);
                break;
            }
            if (++links > MAX_LINKS) {
                fail(out, ELOOP, "%s: too many symbolic links", path);
                break;
            }
            n = readlinkat(fd, name, target, sizeof(target) - 1);
            if (n <= 0) {
                fail(out, n < 0 ? errno : ENOENT, "cannot read the symbolic link %s", done);
                break;
            }
            target[n] = '\0';
            if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", target, p) >= sizeof(joined)) {
                fail(out, ENAMETOOLONG, "%s: path too long", path);
                break;
            }
            memcpy(rest, joined, strlen(joined) + 1);
            p = rest;
            if (target[0] == '/') {
                close(fd);
                if ((fd = open("/", DIR_FLAGS)) < 0) {
                    fail(out, errno, "cannot open / (%s)", strerror(errno));
                    return;
                }
                done[0] = '\0';
            } else {
                done[dlen] = '\0';   /* relative to the link's directory */
            }
            continue;
        }
        if (!S_ISDIR(lst.st_mode)) {
            fail(out, ENOTDIR, "%s is not a directory", done);
            break;
        }
        if ((nfd = openat(fd, name, DIR_FLAGS)) < 0) {
            /* ELOOP/ENOTDIR: replaced since it was examined */
            fail(out, errno, "cannot open %s (%s)", done, strerror(errno));
            break;
        }
        close(fd);
        fd = nfd;
        retries = 0;
    }
    if (out->err || out->missing) {
        close(fd);
        return;
    }
    out->fd = fd;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int soc_run_as(long uid, long gid, int (*fn)(void *ctx), void *ctx, int timeout_ms)
{
    int status;
    long long deadline = now_ms() + timeout_ms;
    pid_t got, pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (geteuid() == 0 && uid >= 0) {
            gid_t g = (gid_t)gid;
            if (setgroups(1, &g) < 0 || setgid(g) < 0 || setuid((uid_t)uid) < 0 ||
                (uid != 0 && setuid(0) == 0))
                _exit(126);
        }
        _exit(fn(ctx) & 0x7f);
    }
    while ((got = waitpid(pid, &status, WNOHANG)) == 0 || (got < 0 && errno == EINTR)) {
        if (now_ms() >= deadline) {
            /* stopped or stuck: SIGKILL ends a stopped process too */
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec nap = { 0, 10 * 1000000L };
        nanosleep(&nap, NULL);
    }
    if (got < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
