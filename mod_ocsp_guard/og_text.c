/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "og_text.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0: RFC 3629, no
 * overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
    }
    return 0;
}

/* Appends n bytes to out while they fit; counts them all. */
static void put(char *out, size_t cap, size_t *used, const char *s, size_t n)
{
    if (*used < cap) {
        size_t room = cap - 1 - *used;
        memcpy(out + *used, s, n < room ? n : room);
    }
    *used += n;
}

typedef enum { ESC_JSON, ESC_PROM_LABEL } esc_kind;

static size_t escape(char *out, size_t cap, const char *in, esc_kind kind)
{
    static const char replacement[] = "\xEF\xBF\xBD";   /* U+FFFD */
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t used = 0;
    while (*s) {
        unsigned c = *s;
        size_t n = utf8_len(s);
        char esc[8];
        const char *rep = NULL;
        if (n == 0) {
            rep = replacement;   /* a stray byte, or a sequence cut short */
            n = 1;
        } else if (c == '\\' || c == '"') {
            esc[0] = '\\';
            esc[1] = (char)c;
            esc[2] = '\0';
            rep = esc;
        } else if (c == '\n') {
            rep = "\\n";
        } else if (c < 0x20 || c == 0x7F) {
            if (kind == ESC_PROM_LABEL)
                rep = replacement;
            else if (c == '\r' || c == '\t' || c == '\b' || c == '\f')
                rep = c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b" : "\\f";
            else {
                snprintf(esc, sizeof(esc), "\\u%04x", c);
                rep = esc;
            }
        }
        if (rep)
            put(out, cap, &used, rep, strlen(rep));
        else
            put(out, cap, &used, (const char *)s, n);
        s += n;
    }
    if (cap)
        out[used < cap ? used : cap - 1] = '\0';
    return used;
}

size_t og_json_escape(char *out, size_t cap, const char *in)
{
    return escape(out, cap, in, ESC_JSON);
}

size_t og_prom_label_escape(char *out, size_t cap, const char *in)
{
    return escape(out, cap, in, ESC_PROM_LABEL);
}
