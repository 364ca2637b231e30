/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* The core's log callback for the unit tests: every line kept in memory
 * (thread-safe), to count and search. */
#ifndef TESTLOG_H
#define TESTLOG_H

/* An og_log_fn: appends "LEVEL text\n". */
void tl_log(void *baton, const char *file, int lineno, int level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Called with each line's text, outside the log's lock; NULL: none. */
extern void (*tl_hook)(const char *line);
/* Forgets every line and the hook. */
void tl_reset(void);
/* Lines (or parts of them) holding needle. */
int tl_count(const char *needle);
/* 1 when one line holds both a and b. */
int tl_line_has(const char *a, const char *b);
/* The end of the log, for failure messages (Check caps their size). */
const char *tl_tail(void);

#endif
