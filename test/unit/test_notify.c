/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Notifications: which reason for which change and how often, in explicit
 * time (no sleeps); and the runner with real programs: arguments and the
 * minimal environment, a non-zero exit logged, a hanging program killed
 * with what it started, never more than the limit at once, a full queue
 * dropping its oldest. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "og_notify.h"
#include "testlog.h"

#define T0 1700000000

static og_notify_mem mem;
static og_notify_facts facts;

/* The reasons one look gives, as "a b c" (empty when none). */
static const char *look(time_t now)
{
    static char out[256];
    og_notify_reason r[OG_NOTIFY_MAX_PER_LOOK];
    unsigned n = og_notify_look(&mem, &facts, now, r);
    out[0] = '\0';
    for (unsigned i = 0; i < n; i++)
        snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", i ? " " : "",
                 og_notify_reason_name(r[i]));
    return out;
}

static void stapled(og_cert_status st, time_t this_update, time_t next_update, unsigned failures)
{
    facts.stapled = 1;
    facts.status = st;
    facts.this_update = this_update;
    facts.next_update = next_update;
    facts.failures = failures;
}

static void unstapled(unsigned failures)
{
    facts.stapled = 0;
    facts.failures = failures;
}

static void reset(void)
{
    memset(&mem, 0, sizeof(mem));
    memset(&facts, 0, sizeof(facts));
    facts.fresh_source = 1;
}

/* Responses valid one minute: renewed, outage, validity low, expiry,
 * recovery, revocation, in that order, each once. */
START_TEST(outage_expiry_recovery_revocation_in_order)
{
    reset();
    stapled(OG_STATUS_GOOD, T0, T0 + 60, 0);
    ck_assert_str_eq(look(T0), "ocsp-renewed");
    ck_assert_str_eq(look(T0 + 10), "");
    stapled(OG_STATUS_GOOD, T0, T0 + 60, 1);         /* the refresh at 30 s fails */
    ck_assert_str_eq(look(T0 + 30), "ocsp-errored");
    facts.failures = 2;
    ck_assert_str_eq(look(T0 + 44), "");             /* 16 s left: not yet a quarter */
    ck_assert_str_eq(look(T0 + 46), "ocsp-validity-low");
    ck_assert_str_eq(look(T0 + 50), "");
    unstapled(3);                                     /* expired, slot cleared */
    ck_assert_str_eq(look(T0 + 61), "ocsp-expired");
    ck_assert_str_eq(look(T0 + 70), "");
    stapled(OG_STATUS_GOOD, T0 + 90, T0 + 150, 0);   /* the responder is back */
    ck_assert_str_eq(look(T0 + 90), "ocsp-recovered");
    stapled(OG_STATUS_GOOD, T0 + 120, T0 + 180, 0);
    ck_assert_str_eq(look(T0 + 120), "");            /* renewed: once a day */
    stapled(OG_STATUS_REVOKED, T0 + 150, T0 + 210, 0);
    ck_assert_str_eq(look(T0 + 150), "ocsp-revoked");
    stapled(OG_STATUS_REVOKED, T0 + 180, T0 + 240, 0);
    ck_assert_str_eq(look(T0 + 180), "");
    /* the revocation's refreshes fail: told as any failure, never revoked again */
    stapled(OG_STATUS_REVOKED, T0 + 3600, T0 + 7200, 1);
    ck_assert_str_eq(look(T0 + 3700), "ocsp-errored");
}
END_TEST

START_TEST(errored_at_most_hourly)
{
    int errored = 0;
    reset();
    stapled(OG_STATUS_GOOD, T0, T0 + 86400, 0);
    look(T0);
    /* an hour of flapping: a failure every other minute, a success between */
    for (time_t t = T0 + 60; t < T0 + 3600; t += 120) {
        facts.failures = 1;
        errored += !strcmp(look(t), "ocsp-errored");
        facts.failures = 0;
        ck_assert_str_eq(look(t + 60), "");
    }
    ck_assert_int_eq(errored, 1);
    /* a run of failures that started inside the hour is told once it is over */
    facts.failures = 1;
    ck_assert_str_eq(look(T0 + 3650), "");
    ck_assert_str_eq(look(T0 + 3660), "ocsp-errored");
    facts.failures = 5;
    ck_assert_str_eq(look(T0 + 9000), "");           /* the same run: once */
}
END_TEST

START_TEST(renewed_at_most_daily)
{
    int renewed = 0;
    reset();
    /* a new response every half hour for two days */
    for (time_t t = T0; t <= T0 + 2 * 86400; t += 1800) {
        stapled(OG_STATUS_GOOD, t, t + 3600, 0);
        renewed += !strcmp(look(t), "ocsp-renewed");
    }
    ck_assert_int_eq(renewed, 3);                     /* T0, T0 + 1 day, T0 + 2 days */
}
END_TEST

/* The first response seen after a (cold) start came from the cache or the
 * last generation: no news. A revocation there is told. */
START_TEST(restart_renews_nothing)
{
    reset();
    facts.fresh_source = 0;
    stapled(OG_STATUS_GOOD, T0, T0 + 3600, 0);
    ck_assert_str_eq(look(T0), "");
    facts.fresh_source = 1;
    stapled(OG_STATUS_GOOD, T0 + 1800, T0 + 5400, 0);
    ck_assert_str_eq(look(T0 + 1800), "ocsp-renewed");
    reset();
    facts.fresh_source = 0;
    stapled(OG_STATUS_REVOKED, T0, T0 + 3600, 0);
    ck_assert_str_eq(look(T0), "ocsp-revoked");
    /* memory carried over: the same response again is nothing */
    og_notify_mem kept = mem;
    reset();
    mem = kept;
    facts.fresh_source = 0;
    stapled(OG_STATUS_REVOKED, T0, T0 + 3600, 0);
    ck_assert_str_eq(look(T0 + 5), "");
}
END_TEST

START_TEST(must_staple_unstapled)
{
    reset();
    facts.must_staple = 1;
    unstapled(0);
    ck_assert_str_eq(look(T0), "");                  /* the first fetch is under way */
    unstapled(1);
    ck_assert_str_eq(look(T0 + 5), "ocsp-errored must-staple-unstapled");
    unstapled(2);
    ck_assert_str_eq(look(T0 + 40), "");
    stapled(OG_STATUS_GOOD, T0 + 60, T0 + 120, 0);
    ck_assert_str_eq(look(T0 + 60), "ocsp-recovered");
    unstapled(0);                                     /* expired without a failed refresh */
    ck_assert_str_eq(look(T0 + 121), "ocsp-expired must-staple-unstapled");
}
END_TEST

/* Under a quarter of the validity left is news only when refreshes do not
 * renew it (OCSPGuardRefreshAt 90 reaches it every time). */
START_TEST(validity_low_only_when_not_renewing)
{
    reset();
    stapled(OG_STATUS_GOOD, T0, T0 + 100, 0);
    look(T0);
    ck_assert_str_eq(look(T0 + 80), "");
    facts.not_renewing = 1;
    ck_assert_str_eq(look(T0 + 81), "ocsp-validity-low");
    ck_assert_str_eq(look(T0 + 90), "");
    facts.not_renewing = 0;
    stapled(OG_STATUS_GOOD, T0 + 95, T0 + 195, 0);
    ck_assert_str_eq(look(T0 + 95), "ocsp-recovered");
}
END_TEST

START_TEST(absurd_times_do_not_overflow)
{
    reset();
    stapled(OG_STATUS_GOOD, (time_t)INT64_MIN / 2, (time_t)INT64_MAX / 2, 1);
    look(T0);
    stapled(OG_STATUS_GOOD, (time_t)INT64_MAX / 2, (time_t)INT64_MIN / 2, 1);
    look(T0);
    unstapled(1);
    look((time_t)INT64_MAX / 2);
}
END_TEST

/* ---- the runner ---- */

static char dir[64], script[128], out[128];
static void runner_setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/og_notify.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(script, sizeof(script), "%s/notify.sh", dir);
    snprintf(out, sizeof(out), "%s/out", dir);
    tl_reset();
}

static void runner_teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

static void write_script(const char *body)
{
    FILE *f = fopen(script, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\nOUT=%s\n%s\n", out, body);
    fclose(f);
    chmod(script, 0755);
}

static og_cert test_cert = {
    .id = { 0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 0xff },
    .subject = "CN=notify.test", .serial = "1234", .name = "subject CN=notify.test, serial 1234"
};

static og_notifier *runner(const char *extra_arg, unsigned running_max, unsigned queue_max,
                           unsigned timeout)
{
    static const char *argv[3];
    og_notify_cfg cfg = { 0 };
    argv[0] = script;
    argv[1] = extra_arg;
    cfg.argv = argv;
    cfg.argc = extra_arg ? 2 : 1;
    cfg.running_max = running_max;
    cfg.queue_max = queue_max;
    cfg.timeout = timeout;
    cfg.log = tl_log;
    og_notifier *n = og_notifier_new(&cfg);
    ck_assert_ptr_nonnull(n);
    return n;
}

static void post(og_notifier *n, og_notify_reason reason, const char *name)
{
    og_notify_event ev = { reason, name, &test_cert, "http://ocsp.test/", T0 };
    og_notifier_post(n, &ev);
}

/* Ticks every 50 ms until nothing runs or waits; at most seconds. Returns
 * the most programs seen running at once. */
static unsigned drain(og_notifier *n, int seconds)
{
    unsigned most = 0;
    for (int i = 0; i < seconds * 20; i++) {
        og_notifier_tick(n);
        if (og_notifier_running(n) > most)
            most = og_notifier_running(n);
        if (!og_notifier_running(n) && !og_notifier_queued(n))
            break;
        usleep(50000);
    }
    return most;
}

static char *slurp(const char *path)
{
    static char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n = 0;
    buf[0] = '\0';
    if (f) {
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

START_TEST(runner_passes_reason_name_and_a_minimal_environment)
{
    char envfile[160];
    char marker[160];
    write_script("echo \"$@\" >> $OUT; env | sort > $OUT.env; ls -l /proc/$$/fd/ > $OUT.fds");
    setenv("OG_NOTIFY_SECRET", "x", 1);   /* the refresher's environment is not passed on */
    /* a descriptor of the refresher's (a socket, the cache): not the program's */
    snprintf(marker, sizeof(marker), "%s/marker", dir);
    int fd = open(marker, O_CREAT | O_WRONLY, 0600);
    ck_assert_int_ge(fd, 0);
    og_notifier *n = runner("--from-config", 0, 0, 0);
    post(n, OG_NOTIFY_RENEWED, "www.notify.test");
    drain(n, 5);
    og_notifier_free(n);
    ck_assert_str_eq(slurp(out), "--from-config ocsp-renewed www.notify.test\n");
    snprintf(envfile, sizeof(envfile), "%s.env", out);
    const char *env = slurp(envfile);
    ck_assert_msg(strstr(env, "OCSP_GUARD_REASON=ocsp-renewed\n"), "%s", env);
    ck_assert(strstr(env, "OCSP_GUARD_NAME=www.notify.test\n"));
    ck_assert(strstr(env, "OCSP_GUARD_SUBJECT=CN=notify.test\n"));
    ck_assert(strstr(env, "OCSP_GUARD_SERIAL=1234\n"));
    ck_assert(strstr(env, "OCSP_GUARD_CERT_ID=abcd0102030405060708090a0b0c0d0e0f1011ff\n"));
    ck_assert(strstr(env, "OCSP_GUARD_RESPONDER=http://ocsp.test/\n"));
    ck_assert(strstr(env, "OCSP_GUARD_NEXT_UPDATE=2023-11-14T22:13:20Z\n"));
    ck_assert(strstr(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"));
    /* nothing of the caller's (sh itself adds PWD, and SHLVL or _ in some shells) */
    ck_assert_ptr_null(strstr(env, "HOME="));
    ck_assert_ptr_null(strstr(env, "OG_NOTIFY_SECRET"));
    ck_assert_int_eq(tl_count("OG01001: notify: running"), 1);
    ck_assert_int_eq(tl_count("OG01002"), 0);
    snprintf(envfile, sizeof(envfile), "%s.fds", out);
    const char *fds = slurp(envfile);
    ck_assert_msg(strstr(fds, " 0 -> /dev/null") && !strstr(fds, "marker"), "%s", fds);
    close(fd);
}
END_TEST

START_TEST(runner_logs_a_non_zero_exit)
{
    write_script("exit 3");
    og_notifier *n = runner(NULL, 0, 0, 0);
    post(n, OG_NOTIFY_ERRORED, "www.notify.test");
    drain(n, 5);
    og_notifier_free(n);
    ck_assert_msg(tl_count("OG01002: notify: ") == 1 &&
                  tl_count("ocsp-errored www.notify.test exited with status 3") == 1, "%s", tl_tail());
}
END_TEST

/* A program that hangs is killed after the timeout, with what it started. */
START_TEST(runner_kills_a_hanging_program_and_its_group)
{
    char pidfile[160];
    write_script("sleep 100 & echo $! > $OUT.pid; wait");
    og_notifier *n = runner(NULL, 0, 0, 1);
    post(n, OG_NOTIFY_EXPIRED, "www.notify.test");
    drain(n, 5);
    ck_assert_int_eq(og_notifier_running(n), 0);
    og_notifier_free(n);
    ck_assert_msg(tl_count("OG01004: notify: ") == 1 && tl_count("still running after 1 s: killed"),
                  "%s", tl_tail());
    snprintf(pidfile, sizeof(pidfile), "%s.pid", out);
    pid_t child = (pid_t)atol(slurp(pidfile));
    ck_assert_int_gt(child, 1);
    int gone = 0;
    for (int i = 0; i < 40 && !gone; i++, usleep(50000)) {
        char stat[64], *s;
        snprintf(stat, sizeof(stat), "/proc/%ld/stat", (long)child);
        s = slurp(stat);
        gone = !*s || strstr(s, ") Z ") != NULL;   /* gone, or a zombie waiting for init */
    }
    ck_assert_msg(gone, "the program's child %ld still runs", (long)child);
}
END_TEST

START_TEST(runner_limits_programs_at_once_and_drops_the_oldest)
{
    write_script("echo \"start $2\" >> $OUT; sleep 0.4; echo \"end $2\" >> $OUT");
    og_notifier *n = runner(NULL, 2, 3, 0);
    char name[16];
    for (int i = 1; i <= 6; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        post(n, OG_NOTIFY_RENEWED, name);
    }
    ck_assert_int_eq(og_notifier_queued(n), 3);
    ck_assert_int_eq(tl_count("OG01005"), 0);        /* posting never logs: at the tick */
    unsigned most = drain(n, 10);
    og_notifier_free(n);
    ck_assert_int_eq(most, 2);
    ck_assert_int_eq(tl_count("OG01005"), 1);
    ck_assert_msg(tl_count("3 notification(s) dropped, the oldest waiting when more than 3 were "
                           "(the last dropped: ocsp-renewed n3)"), "%s", tl_tail());
    const char *o = slurp(out);
    ck_assert_msg(!strstr(o, "n1") && !strstr(o, "n2") && !strstr(o, "n3"), "%s", o);
    ck_assert_msg(strstr(o, "end n4") && strstr(o, "end n5") && strstr(o, "end n6"), "%s", o);
    /* never three at once, from the programs' own view */
    int running = 0, peak = 0;
    for (const char *p = o; *p; p = strchr(p, '\n') + 1) {
        running += !strncmp(p, "start", 5) ? 1 : -1;
        if (running > peak)
            peak = running;
    }
    ck_assert_int_eq(peak, 2);
}
END_TEST

/* One NAME's programs one at a time, in order, however long each takes;
 * another NAME's beside them; a hanging one holds up only its NAME, until
 * it is killed. */
START_TEST(runner_runs_a_names_programs_one_at_a_time_in_order)
{
    write_script("echo \"start $1 $2\" >> $OUT\n"
                 "case \"$1\" in ocsp-errored) sleep 0.6 ;; ocsp-validity-low) sleep 100 ;; esac\n"
                 "echo \"end $1 $2\" >> $OUT");
    og_notifier *n = runner(NULL, 4, 0, 2);
    post(n, OG_NOTIFY_ERRORED, "a");        /* slow */
    post(n, OG_NOTIFY_VALIDITY_LOW, "b");   /* hangs: killed after 2 s */
    post(n, OG_NOTIFY_RECOVERED, "a");      /* quick: must wait for a's first */
    post(n, OG_NOTIFY_EXPIRED, "b");        /* waits for b's kill */
    post(n, OG_NOTIFY_UNSTAPLED, "b");      /* and then for b's expired */
    post(n, OG_NOTIFY_RENEWED, "c");        /* free: at once */
    og_notifier_tick(n);
    ck_assert_int_eq(og_notifier_running(n), 3);   /* a, b and c; a's and b's others wait */
    ck_assert_int_eq(og_notifier_queued(n), 3);
    drain(n, 10);
    og_notifier_free(n);
    ck_assert_int_eq(tl_count("OG01004: notify: "), 1);
    const char *o = slurp(out);
    const char *a1s = strstr(o, "start ocsp-errored a"), *a1e = strstr(o, "end ocsp-errored a");
    const char *a2s = strstr(o, "start ocsp-recovered a"), *c = strstr(o, "end ocsp-renewed c");
    const char *b1s = strstr(o, "start ocsp-validity-low b"), *b2s = strstr(o, "start ocsp-expired b");
    const char *b2e = strstr(o, "end ocsp-expired b"), *b3s = strstr(o, "start must-staple-unstapled b");
    ck_assert_msg(a1s && a1e && a2s && c && b1s && b2s && b2e && b3s, "%s", o);
    ck_assert_msg(a1e < a2s, "a's second started before its first ended:\n%s", o);
    ck_assert_msg(c < a1e, "c waited for a:\n%s", o);
    ck_assert_msg(!strstr(o, "end ocsp-validity-low b") && b1s < b2s && b2e < b3s, "%s", o);
    /* in the log too: started in the order posted for each name */
    ck_assert_msg(tl_count("ocsp-expired b (pid") == 1 && tl_count("must-staple-unstapled b (pid") == 1,
                  "%s", tl_tail());
}
END_TEST

START_TEST(runner_says_when_the_program_cannot_run)
{
    write_script("exit 0");
    chmod(script, 0644);          /* passed the configuration check, then lost its x bit */
    og_notifier *n = runner(NULL, 0, 0, 0);
    post(n, OG_NOTIFY_REVOKED, "www.notify.test");
    drain(n, 5);
    og_notifier_free(n);
    ck_assert_msg(tl_count("exited with status 127 (127:"), "%s", tl_tail());
}
END_TEST

Suite *notify_suite(void)
{
    Suite *s = suite_create("notify");
    TCase *rules = tcase_create("rules");
    tcase_add_test(rules, outage_expiry_recovery_revocation_in_order);
    tcase_add_test(rules, errored_at_most_hourly);
    tcase_add_test(rules, renewed_at_most_daily);
    tcase_add_test(rules, restart_renews_nothing);
    tcase_add_test(rules, must_staple_unstapled);
    tcase_add_test(rules, validity_low_only_when_not_renewing);
    tcase_add_test(rules, absurd_times_do_not_overflow);
    suite_add_tcase(s, rules);
    TCase *run = tcase_create("runner");
    tcase_add_checked_fixture(run, runner_setup, runner_teardown);
    tcase_set_timeout(run, 30);
    tcase_add_test(run, runner_passes_reason_name_and_a_minimal_environment);
    tcase_add_test(run, runner_logs_a_non_zero_exit);
    tcase_add_test(run, runner_kills_a_hanging_program_and_its_group);
    tcase_add_test(run, runner_limits_programs_at_once_and_drops_the_oldest);
    tcase_add_test(run, runner_runs_a_names_programs_one_at_a_time_in_order);
    tcase_add_test(run, runner_says_when_the_program_cannot_run);
    suite_add_tcase(s, run);
    return s;
}
