#include "og_table.h"

#include <string.h>

#define TABLE_MAGIC 0x4f475442u /* "OGTB" */
#define TABLE_VERSION 1u
#define SEQLOCK_TRIES 64

typedef struct og_slot {
    uint32_t seq;                /* odd while being written */
    uint32_t len;
    int32_t status;
    uint32_t source;
    int64_t this_update;
    int64_t next_update;
    int64_t produced_at;
    int64_t fetched_at;
    unsigned char id[OG_ID_LEN];
    unsigned char pad[12];
    unsigned char data[OG_SLOT_CAPACITY];
} og_slot;

struct og_table {
    uint32_t magic;
    uint32_t version;
    uint32_t nslots;
    uint32_t index_mask;         /* index has index_mask + 1 entries */
    uint64_t size;
    /* followed by og_slot[nslots], then uint32_t index[index_mask + 1] */
};

static size_t header_size(void)
{
    return (sizeof(og_table) + 63) & ~(size_t)63;
}

static uint32_t index_entries(unsigned n)
{
    uint32_t e = 16;
    while (e < 2u * n)
        e <<= 1;
    return e;
}

static og_slot *slots(const og_table *t)
{
    return (og_slot *)((char *)t + header_size());
}

static uint32_t *index_of(const og_table *t)
{
    return (uint32_t *)((char *)slots(t) + (size_t)t->nslots * sizeof(og_slot));
}

static uint32_t id_hash(const unsigned char *id)
{
    /* ids are SHA-1 digests: their bytes are already uniform */
    uint32_t h;
    memcpy(&h, id, sizeof(h));
    return h;
}

const char *og_source_name(uint32_t source)
{
    switch (source) {
    case OG_SOURCE_RESPONDER: return "responder";
    case OG_SOURCE_CACHE: return "cache";
    case OG_SOURCE_RESTART: return "memory";
    default: return "none";
    }
}

size_t og_table_size(unsigned n)
{
    return header_size() + (size_t)n * sizeof(og_slot) + (size_t)index_entries(n) * sizeof(uint32_t);
}

og_table *og_table_init(void *mem, size_t size, unsigned n, const unsigned char (*ids)[OG_ID_LEN])
{
    og_table *t = mem;
    if (!mem || size < og_table_size(n))
        return NULL;
    /* mem comes zeroed (fresh shared memory): writing it all would make
     * every slot's pages resident for nothing. */
    t->nslots = n;
    t->index_mask = index_entries(n) - 1;
    t->size = og_table_size(n);
    uint32_t *idx = index_of(t);
    for (unsigned i = 0; i < n; i++) {
        memcpy(slots(t)[i].id, ids[i], OG_ID_LEN);
        uint32_t pos = id_hash(ids[i]) & t->index_mask;
        while (idx[pos]) {
            if (!memcmp(slots(t)[idx[pos] - 1].id, ids[i], OG_ID_LEN))
                return NULL;
            pos = (pos + 1) & t->index_mask;
        }
        idx[pos] = i + 1;
    }
    t->version = TABLE_VERSION;
    t->magic = TABLE_MAGIC;
    return t;
}

int og_table_valid(const void *mem, size_t size)
{
    const og_table *t = mem;
    return mem && size >= sizeof(*t) && t->magic == TABLE_MAGIC && t->version == TABLE_VERSION &&
           t->size <= size && og_table_size(t->nslots) == t->size;
}

unsigned og_table_count(const og_table *t)
{
    return t->nslots;
}

int og_table_find(const og_table *t, const unsigned char *id, size_t id_len)
{
    const uint32_t *idx = index_of(t);
    if (id_len != OG_ID_LEN)
        return -1;
    for (uint32_t pos = id_hash(id) & t->index_mask;; pos = (pos + 1) & t->index_mask) {
        uint32_t v = idx[pos];
        if (!v)
            return -1;
        if (!memcmp(slots(t)[v - 1].id, id, OG_ID_LEN))
            return (int)(v - 1);
    }
}

static void write_slot(og_slot *s, const unsigned char *der, size_t len, const og_slot_meta *meta)
{
    uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (seq & 1)
        seq++;                   /* a writer died mid-write: start a fresh round */
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    s->len = (uint32_t)len;
    s->status = meta ? (int32_t)meta->status : OG_STATUS_NONE;
    s->source = meta ? meta->source : OG_SOURCE_NONE;
    s->this_update = meta ? meta->this_update : 0;
    s->next_update = meta ? meta->next_update : 0;
    s->produced_at = meta ? meta->produced_at : 0;
    s->fetched_at = meta ? meta->fetched_at : 0;
    if (len)
        memcpy(s->data, der, len);
    __atomic_store_n(&s->seq, seq + 2, __ATOMIC_RELEASE);
}

int og_table_publish(og_table *t, unsigned slot, const unsigned char *der, size_t len,
                     const og_slot_meta *meta)
{
    if (slot >= t->nslots || len > OG_SLOT_CAPACITY)
        return 0;
    write_slot(&slots(t)[slot], der, len, meta);
    return 1;
}

void og_table_clear(og_table *t, unsigned slot)
{
    if (slot < t->nslots)
        write_slot(&slots(t)[slot], NULL, 0, NULL);
}

int og_table_read(const og_table *t, unsigned slot, unsigned char *buf, size_t cap,
                  size_t *len, og_slot_meta *meta)
{
    const og_slot *s;
    if (slot >= t->nslots)
        return 0;
    s = &slots(t)[slot];
    for (int i = 0; i < SEQLOCK_TRIES; i++) {
        uint32_t before = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
        if (before & 1)
            continue;
        size_t n = s->len;
        if (n > OG_SLOT_CAPACITY || (buf && n > cap))
            n = 0;
        og_slot_meta m;
        m.status = (og_cert_status)s->status;
        m.source = s->source;
        m.this_update = (time_t)s->this_update;
        m.next_update = (time_t)s->next_update;
        m.produced_at = (time_t)s->produced_at;
        m.fetched_at = (time_t)s->fetched_at;
        if (buf && n)
            memcpy(buf, s->data, n);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == before) {
            if (len)
                *len = n;
            if (meta)
                *meta = m;
            return 1;
        }
    }
    return 0;
}

int og_meta_stapled(const og_slot_meta *m, time_t now)
{
    return og_status_staplable(m->status) && m->next_update > now;
}

int og_table_staple(const og_table *t, unsigned slot, time_t now, unsigned char *buf,
                    size_t cap, size_t *len)
{
    og_slot_meta m;
    return og_table_read(t, slot, buf, cap, len, &m) && *len > 0 && og_meta_stapled(&m, now);
}

unsigned og_table_carry_over(og_table *to, const og_table *from)
{
    static unsigned char buf[OG_SLOT_CAPACITY];
    unsigned carried = 0;
    for (unsigned i = 0; i < from->nslots; i++) {
        og_slot_meta m;
        size_t len = 0;
        int dst = og_table_find(to, slots(from)[i].id, OG_ID_LEN);
        if (dst < 0 || !og_table_read(from, i, buf, sizeof(buf), &len, &m) || len == 0)
            continue;
        m.source = OG_SOURCE_RESTART;
        carried += (unsigned)og_table_publish(to, (unsigned)dst, buf, len, &m);
    }
    return carried;
}
