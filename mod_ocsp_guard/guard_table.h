/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
/* mod_ocsp_guard glue, table room: this generation's shared staple table.
 * A graceful restart makes a new one and carries over what the last one
 * held for the same certificates. Depends on guard_registry. */
#ifndef GUARD_TABLE_H
#define GUARD_TABLE_H

#include "httpd.h"
#include "og_table.h"
#include "guard_registry.h"

/* A new table for r's certificates; *carried says how many slots came over
 * from the last generation, *restarted whether there was one. NULL (logged)
 * when the shared memory cannot be had. */
og_table *guard_table_create(server_rec *s, const guard_registry *r, int *carried, int *restarted);

/* The table handshakes read in this generation, or NULL. */
og_table *guard_table_current(void);
void guard_table_forget(void);

/* 1 when slot holds a response that may be stapled at now; m is filled. */
int guard_table_stapled(unsigned slot, time_t now, og_slot_meta *m);
/* The same in one attempt that never waits (the parent's monitor): -1 when
 * the slot is mid-write. */
int guard_table_stapled_nowait(unsigned slot, time_t now, og_slot_meta *m);
/* How many slots hold a response that may be stapled now (for the parent:
 * a slot mid-write counts as not stapled, no wait). */
unsigned guard_table_count_stapled(void);

/* The handshake path when slot has no staple: for a must-staple
 * certificate whose fetch is in flight (or, at start-up, still to end),
 * waits for it, bounded by OCSPGuardMustStapleWait (at start-up by
 * OCSPGuardResponderTimeout) of the handshake's server s, holding no lock;
 * at most a quarter of this process's threads wait at once. 1 with the
 * staple in buf. */
int guard_table_staple_wait(server_rec *s, unsigned slot, unsigned char *buf, size_t cap,
                            size_t *len);

#endif
