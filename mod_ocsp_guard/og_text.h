/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* Text for machine readers: JSON strings and Prometheus label values and
 * help text, from any bytes (a certificate's subject, a responder's error
 * text). Output is always valid UTF-8: a byte that does not start a valid
 * UTF-8 sequence becomes U+FFFD. Knows nothing of httpd. */
#ifndef OG_TEXT_H
#define OG_TEXT_H

#include <stddef.h>

/* Each writes the escaped form of in (without quotes) into out, at most
 * cap - 1 bytes and a NUL, and returns the length of the whole escaped
 * form, as snprintf does: call with (NULL, 0) first to size the buffer. */

/* A JSON string's content: \" \\ \n \r \t \b \f, other control characters
 * and DEL as \u00XX. */
size_t og_json_escape(char *out, size_t cap, const char *in);

/* A Prometheus text-format (0.0.4) label value: \\ \" \n; other control
 * characters, which the format cannot carry, become U+FFFD. */
size_t og_prom_label_escape(char *out, size_t cap, const char *in);

#endif
