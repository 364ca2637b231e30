/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* JSON and Prometheus escaping of any bytes: quotes, backslashes, control
 * characters, valid UTF-8 kept, invalid UTF-8 replaced, truncation sized
 * like snprintf. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "og_text.h"

typedef size_t escape_fn(char *, size_t, const char *);

static char *escaped(escape_fn *fn, const char *in)
{
    size_t n = fn(NULL, 0, in);
    char *out = malloc(n + 1);
    ck_assert_uint_eq(fn(out, n + 1, in), n);
    ck_assert_uint_eq(strlen(out), n);
    return out;
}

static void expect(escape_fn *fn, const char *in, const char *want)
{
    char *got = escaped(fn, in);
    ck_assert_msg(!strcmp(got, want), "escaping '%s': got '%s', want '%s'", in, got, want);
    free(got);
}

START_TEST(json_escapes_what_json_requires)
{
    expect(og_json_escape, "CN=plain", "CN=plain");
    expect(og_json_escape, "O=\"Quote\"\\Back", "O=\\\"Quote\\\"\\\\Back");
    expect(og_json_escape, "a\nb\rc\td\be\ff", "a\\nb\\rc\\td\\be\\ff");
    expect(og_json_escape, "\x01\x1f\x7f", "\\u0001\\u001f\\u007f");
    expect(og_json_escape, "</script>&", "</script>&");
    expect(og_json_escape, NULL, "");
}
END_TEST

START_TEST(valid_utf8_is_kept_invalid_replaced)
{
    /* two-, three- and four-byte characters pass as they are */
    expect(og_json_escape, "CN=M\xC3\xBCller \xE2\x82\xAC \xF0\x9F\x94\x92", "CN=M\xC3\xBCller \xE2\x82\xAC \xF0\x9F\x94\x92");
    /* a stray continuation byte, a cut sequence, an overlong '/', a
     * surrogate, above U+10FFFF: each bad byte becomes U+FFFD */
    expect(og_json_escape, "a\x80z", "a\xEF\xBF\xBDz");
    expect(og_json_escape, "a\xE2\x82", "a\xEF\xBF\xBD\xEF\xBF\xBD");
    expect(og_json_escape, "\xC0\xAF", "\xEF\xBF\xBD\xEF\xBF\xBD");
    expect(og_json_escape, "\xED\xA0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
    expect(og_json_escape, "\xF4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}
END_TEST

START_TEST(prometheus_label_values)
{
    expect(og_prom_label_escape, "CN=a \"b\" \\c\nd", "CN=a \\\"b\\\" \\\\c\\nd");
    /* the format has no escape for other control characters */
    expect(og_prom_label_escape, "a\rb\tc", "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
    expect(og_prom_label_escape, "\xFF", "\xEF\xBF\xBD");
    expect(og_prom_label_escape, "h\xC3\xA9", "h\xC3\xA9");
}
END_TEST

START_TEST(truncation_is_sized_like_snprintf)
{
    char small[6];
    ck_assert_uint_eq(og_json_escape(small, sizeof(small), "ab\"cdef"), 8);
    ck_assert_str_eq(small, "ab\\\"c");
    ck_assert_uint_eq(og_json_escape(small, 1, "xyz"), 3);
    ck_assert_str_eq(small, "");
}
END_TEST

Suite *text_suite(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("escape");
    tcase_add_test(tc, json_escapes_what_json_requires);
    tcase_add_test(tc, valid_utf8_is_kept_invalid_replaced);
    tcase_add_test(tc, prometheus_label_values);
    tcase_add_test(tc, truncation_is_sized_like_snprintf);
    suite_add_tcase(s, tc);
    return s;
}
