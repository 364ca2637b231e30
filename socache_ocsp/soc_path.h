/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* socache_ocsp core: opening the record directory from a process that may be
 * root, when directories on the way may belong to the server's user. Knows
 * nothing of httpd or APR. */
#ifndef SOC_PATH_H
#define SOC_PATH_H

#include <stddef.h>

#define SOC_WALK_CREATE 1        /* create missing directories */
#define SOC_WALK_PROBE  2        /* create nothing; say whether missing ones could be */

typedef struct soc_walk {
    int fd;                      /* the directory (O_RDONLY|O_DIRECTORY|O_CLOEXEC), or -1 */
    int created;                 /* the last component was created (and handed over) by this walk */
    int missing;                 /* SOC_WALK_PROBE: not there yet, but could be created */
    int err;                     /* errno-style reason when fd < 0 */
    char msg[768];               /* fd < 0: what is wrong, naming the path */
} soc_walk;

/* Opens the absolute directory path component by component with
 * O_NOFOLLOW, relative to the directory opened before. A symlink on the way
 * is followed only when it lies in a directory that no one but root (or
 * the caller's user) can change; the last component must be a directory
 * itself, never a symlink. With SOC_WALK_CREATE, missing directories are
 * created: those on the way owned by the caller with mode 0755, the last one
 * with mode 0700 and, when uid >= 0, handed to uid:gid through its
 * descriptor. A directory that already existed is never chowned. */
void soc_dir_walk(const char *path, int flags, long uid, long gid, soc_walk *out);

/* Runs fn(ctx) in a child process that, when this process is root, first
 * drops to uid:gid (no supplementary groups); waits for it at most
 * timeout_ms, since that user can stop or slow its own processes: a child
 * still there then is killed. Returns fn's exit value (0-125), 126 when the
 * privileges could not be dropped, or -1 when no child could be started or
 * it did not finish in time (errno ETIMEDOUT). */
#define SOC_RUN_AS_TIMEOUT_MS 60000
int soc_run_as(long uid, long gid, int (*fn)(void *ctx), void *ctx, int timeout_ms);

#endif
