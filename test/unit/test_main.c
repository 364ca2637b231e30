/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Runs every Check suite of the cores. */
#include <check.h>
#include <stdlib.h>

Suite *ocsp_suite(void);
Suite *sched_suite(void);
Suite *table_suite(void);
Suite *refresher_suite(void);
Suite *record_suite(void);
Suite *http_suite(void);
Suite *redis_suite(void);
Suite *notify_suite(void);
Suite *control_suite(void);
Suite *text_suite(void);

int main(void)
{
    SRunner *sr = srunner_create(ocsp_suite());
    srunner_add_suite(sr, sched_suite());
    srunner_add_suite(sr, table_suite());
    srunner_add_suite(sr, refresher_suite());
    srunner_add_suite(sr, record_suite());
    srunner_add_suite(sr, http_suite());
    srunner_add_suite(sr, redis_suite());
    srunner_add_suite(sr, notify_suite());
    srunner_add_suite(sr, control_suite());
    srunner_add_suite(sr, text_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
