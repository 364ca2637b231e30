/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "testlog.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static char logbuf[1 << 20];
static size_t loglen;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
void (*tl_hook)(const char *line);

void tl_log(void *baton, const char *file, int lineno, int level, const char *fmt, ...)
{
    va_list ap;
    char line[1024];
    (void)baton;
    (void)file;
    (void)lineno;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    int n = snprintf(logbuf + loglen, sizeof(logbuf) - loglen, "%d %s\n", level, line);
    if (n > 0)
        loglen += (size_t)n < sizeof(logbuf) - loglen ? (size_t)n : sizeof(logbuf) - loglen - 1;
    pthread_mutex_unlock(&log_lock);
    if (tl_hook)
        tl_hook(line);
}

void tl_reset(void)
{
    pthread_mutex_lock(&log_lock);
    logbuf[0] = '\0';
    loglen = 0;
    tl_hook = NULL;
    pthread_mutex_unlock(&log_lock);
}

const char *tl_tail(void)
{
    return loglen > 3000 ? logbuf + loglen - 3000 : logbuf;
}

int tl_count(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&log_lock);
    for (const char *p = logbuf; (p = strstr(p, needle)); p++)
        n++;
    pthread_mutex_unlock(&log_lock);
    return n;
}

int tl_line_has(const char *a, const char *b)
{
    int found = 0;
    pthread_mutex_lock(&log_lock);
    for (const char *p = logbuf; *p && !found;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)n, p);
        found = strstr(line, a) && strstr(line, b);
        p += n + (e ? 1 : 0);
    }
    pthread_mutex_unlock(&log_lock);
    return found;
}
