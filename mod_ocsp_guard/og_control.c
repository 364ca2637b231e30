/* Copyright 2026 the mod_ocsp_guard developers. Licensed under the Apache License 2.0 (LICENSE). */
#include "og_control.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#define CONTROL_MAGIC 0x4f47434eu   /* "OGCN" */
#define CONTROL_VERSION 1u
#define REASON_CAP 232

/* A mailbox goes FREE -> FILLING (a child copies the import in) -> READY ->
 * TAKEN (the refresher copied it out) -> DONE (verdict written) -> FREE (the
 * child read it). A child that gives up turns READY back to FREE, or TAKEN
 * to ABANDONED, which the refresher frees when it answers. */
enum { BOX_FREE = 0, BOX_FILLING, BOX_READY, BOX_TAKEN, BOX_DONE, BOX_ABANDONED };

typedef struct control_box {
    uint32_t state;
    uint32_t ticket;
    uint32_t slot;
    uint32_t len;
    int64_t stamp;               /* last change of state, for the sweep */
    int32_t verdict;
    char reason[REASON_CAP];
    unsigned char der[OG_CONTROL_BOX_CAP];
} control_box;

typedef struct control_slot {
    unsigned char id[OG_ID_LEN];
    uint32_t refresh;            /* 1: a refresh was asked */
    og_notify_mem mem;
} control_slot;

struct og_control {
    uint32_t magic;
    uint32_t version;
    uint32_t nslots;
    uint32_t requests;           /* bumped by each request */
    uint64_t size;
    int64_t heartbeat;           /* the refresher's last pass */
    uint32_t tickets;
    uint32_t pad;
    control_box boxes[OG_CONTROL_BOXES];
    control_slot slots[];
};

size_t og_control_size(unsigned n)
{
    return sizeof(og_control) + (size_t)n * sizeof(control_slot);
}

og_control *og_control_init(void *mem, size_t size, unsigned n, const unsigned char (*ids)[OG_ID_LEN])
{
    og_control *c = mem;
    if (!mem || size < og_control_size(n))
        return NULL;
    c->nslots = n;
    c->size = og_control_size(n);
    for (unsigned i = 0; i < n; i++)
        memcpy(c->slots[i].id, ids[i], OG_ID_LEN);
    c->version = CONTROL_VERSION;
    c->magic = CONTROL_MAGIC;
    return c;
}

unsigned og_control_count(const og_control *c)
{
    return c->nslots;
}

unsigned og_control_carry_over(og_control *to, const og_table *to_table, const void *from_mem,
                               size_t from_size)
{
    const og_control *from = from_mem;
    unsigned carried = 0;
    size_t n;
    /* the slot count comes from the size the caller mapped, never from the
     * region, which the server's user can write */
    if (!from_mem || from_size < sizeof(og_control) || from->magic != CONTROL_MAGIC ||
        from->version != CONTROL_VERSION)
        return 0;
    n = (from_size - sizeof(og_control)) / sizeof(control_slot);
    for (size_t i = 0; i < n; i++) {
        control_slot s;
        int j;
        memcpy(&s, &from->slots[i], sizeof(s));
        j = og_table_find(to_table, s.id, OG_ID_LEN);
        if (j < 0 || (unsigned)j >= to->nslots)
            continue;
        to->slots[j].mem = s.mem;
        carried++;
    }
    return carried;
}

/* A request: the count changes, and a refresher waiting on it wakes. The
 * futex is a shared one: the region is mapped by several processes. */
static void bump(og_control *c)
{
    /* release: a refresher that sees the new count sees what came before */
    __atomic_add_fetch(&c->requests, 1, __ATOMIC_RELEASE);
#ifdef __linux__
    syscall(SYS_futex, &c->requests, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
#endif
}

void og_control_wait(og_control *c, uint32_t seen, int timeout_ms)
{
    struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
    if (__atomic_load_n(&c->requests, __ATOMIC_ACQUIRE) != seen)
        return;
#ifdef __linux__
    /* returns at once when the count changed meanwhile (EAGAIN) */
    syscall(SYS_futex, &c->requests, FUTEX_WAIT, seen, &ts, NULL, 0);
#else
    nanosleep(&ts, NULL);
#endif
}

/* ---- the children's side ---- */

unsigned og_control_request_refresh(og_control *c, int slot)
{
    unsigned n = 0;
    for (unsigned i = slot < 0 ? 0 : (unsigned)slot; i < c->nslots; i++) {
        __atomic_store_n(&c->slots[i].refresh, 1, __ATOMIC_RELAXED);
        n++;
        if (slot >= 0)
            break;
    }
    bump(c);
    return n;
}

int og_control_refresher_alive(const og_control *c, time_t now)
{
    int64_t beat = __atomic_load_n(&c->heartbeat, __ATOMIC_RELAXED);
    return beat != 0 && (int64_t)now - beat <= OG_CONTROL_ALIVE && beat - (int64_t)now <= OG_CONTROL_ALIVE;
}

int og_control_submit(og_control *c, unsigned slot, const unsigned char *der, size_t len,
                      time_t now, uint32_t *ticket)
{
    if (len == 0 || len > OG_CONTROL_BOX_CAP)
        return -1;
    for (int b = 0; b < OG_CONTROL_BOXES; b++) {
        control_box *box = &c->boxes[b];
        uint32_t expect = BOX_FREE;
        if (!__atomic_compare_exchange_n(&box->state, &expect, BOX_FILLING, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
            continue;
        box->slot = slot;
        box->len = (uint32_t)len;
        box->stamp = now;
        box->verdict = OG_IMPORT_PENDING;
        box->reason[0] = '\0';
        memcpy(box->der, der, len);
        *ticket = __atomic_add_fetch(&c->tickets, 1, __ATOMIC_RELAXED);
        box->ticket = *ticket;
        __atomic_store_n(&box->state, BOX_READY, __ATOMIC_RELEASE);
        bump(c);
        return b;
    }
    return -1;
}

/* One printable line of at most cap - 1 bytes. */
static void copy_line(char *dst, size_t cap, const char *src, size_t src_cap)
{
    size_t i;
    if (!cap)
        return;
    for (i = 0; i + 1 < cap && i < src_cap && src[i]; i++)
        dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
    dst[i] = '\0';
}

og_import_verdict og_control_result(og_control *c, int box, uint32_t ticket, char *reason, size_t cap)
{
    control_box *bx;
    uint32_t state, expect = BOX_DONE;
    og_import_verdict v;
    if (box < 0 || box >= OG_CONTROL_BOXES)
        return OG_IMPORT_UNAVAILABLE;
    bx = &c->boxes[box];
    state = __atomic_load_n(&bx->state, __ATOMIC_ACQUIRE);
    if (bx->ticket != ticket) {
        copy_line(reason, cap, "the import was dropped", 64);
        return OG_IMPORT_UNAVAILABLE;
    }
    if (state != BOX_DONE)
        return OG_IMPORT_PENDING;
    v = (og_import_verdict)bx->verdict;
    copy_line(reason, cap, bx->reason, sizeof(bx->reason));
    if (v <= OG_IMPORT_PENDING || v > OG_IMPORT_UNAVAILABLE ||
        !__atomic_compare_exchange_n(&bx->state, &expect, BOX_FREE, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        return OG_IMPORT_UNAVAILABLE;
    return v;
}

int og_control_withdraw(og_control *c, int box, uint32_t ticket)
{
    control_box *bx;
    uint32_t expect = BOX_READY;
    if (box < 0 || box >= OG_CONTROL_BOXES)
        return 1;
    bx = &c->boxes[box];
    if (bx->ticket != ticket)
        return 1;                /* swept: nobody took it */
    if (__atomic_compare_exchange_n(&bx->state, &expect, BOX_FREE, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return 1;
    if (expect == BOX_TAKEN)
        __atomic_compare_exchange_n(&bx->state, &expect, BOX_ABANDONED, 0, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED);
    return 0;
}

/* ---- the refresher's side ---- */

void og_control_beat(og_control *c, time_t now)
{
    __atomic_store_n(&c->heartbeat, (int64_t)now, __ATOMIC_RELAXED);
}

uint32_t og_control_requests(const og_control *c)
{
    return __atomic_load_n(&c->requests, __ATOMIC_ACQUIRE);
}

int og_control_take_refresh(og_control *c, unsigned slot)
{
    if (slot >= c->nslots)
        return 0;
    return __atomic_exchange_n(&c->slots[slot].refresh, 0, __ATOMIC_ACQ_REL) != 0;
}

void og_control_keep_refresh(og_control *c, unsigned slot)
{
    if (slot < c->nslots)
        __atomic_store_n(&c->slots[slot].refresh, 1, __ATOMIC_RELAXED);
}

void og_control_answer(og_control *c, int box, og_import_verdict v, const char *reason, time_t now)
{
    control_box *bx;
    uint32_t expect = BOX_TAKEN;
    if (box < 0 || box >= OG_CONTROL_BOXES)
        return;
    bx = &c->boxes[box];
    bx->verdict = (int32_t)v;
    snprintf(bx->reason, sizeof(bx->reason), "%s", reason);
    bx->stamp = now;
    if (!__atomic_compare_exchange_n(&bx->state, &expect, BOX_DONE, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        __atomic_store_n(&bx->state, BOX_FREE, __ATOMIC_RELEASE);   /* abandoned: nobody reads it */
}

int og_control_take_import(og_control *c, unsigned nslots, time_t now, unsigned *slot,
                           unsigned char *der, size_t cap, size_t *len)
{
    for (int b = 0; b < OG_CONTROL_BOXES; b++) {
        control_box *bx = &c->boxes[b];
        uint32_t expect = BOX_READY, s, l;
        if (!__atomic_compare_exchange_n(&bx->state, &expect, BOX_TAKEN, 0, __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED))
            continue;
        bx->stamp = now;
        /* read once: the writer may change them while we look */
        s = __atomic_load_n(&bx->slot, __ATOMIC_RELAXED);
        l = __atomic_load_n(&bx->len, __ATOMIC_RELAXED);
        if (s >= nslots) {
            og_control_answer(c, b, OG_IMPORT_NO_SLOT, "no such certificate", now);
            continue;
        }
        if (l == 0 || l > cap || l > OG_CONTROL_BOX_CAP) {
            og_control_answer(c, b, OG_IMPORT_INVALID, "empty or too large", now);
            continue;
        }
        /* the copy is what gets verified and stapled: later writes to the
         * mailbox change nothing */
        memcpy(der, bx->der, l);
        *slot = s;
        *len = l;
        return b;
    }
    return -1;
}

void og_control_sweep(og_control *c, time_t now, int starting)
{
    for (int b = 0; b < OG_CONTROL_BOXES; b++) {
        control_box *bx = &c->boxes[b];
        uint32_t state = __atomic_load_n(&bx->state, __ATOMIC_ACQUIRE);
        int64_t age = (int64_t)now - bx->stamp;
        int stale = age > OG_CONTROL_STALE || age < -OG_CONTROL_STALE;
        if (starting && state == BOX_TAKEN)
            og_control_answer(c, b, OG_IMPORT_UNAVAILABLE, "the refresher restarted before it "
                              "answered; see whether the staple changed", now);
        else if ((starting && state == BOX_ABANDONED) ||
                 (stale && (state == BOX_FILLING || state == BOX_DONE || state > BOX_ABANDONED)))
            __atomic_compare_exchange_n(&bx->state, &state, BOX_FREE, 0, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED);
    }
}

og_notify_mem *og_control_notify_mem(og_control *c, unsigned slot)
{
    return slot < c->nslots ? &c->slots[slot].mem : NULL;
}
