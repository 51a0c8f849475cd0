/* loader_workers.c: the data loader's worker threads. Workers take batch
 * numbers in order from a shared counter, build them (volt_loader_build)
 * without holding the lock, and park each in slot k % n_slots of a ring;
 * batch k is only started once batch k - n_slots has been delivered, so at
 * most prefetch_factor * num_workers batches wait. The consumer takes batch
 * k from its slot in order. Stopping sets a flag, wakes everyone, joins the
 * threads and frees what was built but not delivered. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"

#define MESSAGE_CAPACITY 1024

typedef struct {
    volt_batch batch;
    volt_status status;
    char message[MESSAGE_CAPACITY];
    bool ready;
} slot;

struct volt_loader_pool {
    const volt_data_loader *loader;
    pthread_mutex_t mu;
    pthread_cond_t ready_cv; /* a slot became ready (the consumer waits) */
    pthread_cond_t space_cv; /* a slot was freed, or stop (workers wait) */
    pthread_t *threads;
    int n_threads;
    slot *slots;
    int64_t n_slots;
    int64_t next_build, next_take, end;
    bool stop;
};

static void *worker_main(void *arg) {
    volt_loader_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->next_build < p->end && p->next_build >= p->next_take + p->n_slots)
            pthread_cond_wait(&p->space_cv, &p->mu);
        if (p->stop || p->next_build >= p->end) break;
        int64_t k = p->next_build++;
        pthread_mutex_unlock(&p->mu);

        volt_batch b;
        volt_status st = volt_loader_build(p->loader, k, &b);
        char message[MESSAGE_CAPACITY] = "";
        if (st != VOLT_OK) {
            /* Drop the "volt: " prefix; the consumer's volt_error_set adds it. */
            const char *m = volt_error_message();
            if (strncmp(m, "volt: ", 6) == 0) m += 6;
            snprintf(message, sizeof message, "%s", m);
        }
        volt_error_clear();

        pthread_mutex_lock(&p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            volt_batch_free(&b);
            pthread_mutex_lock(&p->mu);
            continue;
        }
        slot *s = &p->slots[k % p->n_slots];
        s->batch = b;
        s->status = st;
        memcpy(s->message, message, sizeof message);
        s->ready = true;
        pthread_cond_signal(&p->ready_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

volt_status volt_loader_pool_take(volt_loader_pool *p, int64_t k, volt_batch *out) {
    pthread_mutex_lock(&p->mu);
    VOLT_ASSERT(k == p->next_take);
    slot *s = &p->slots[k % p->n_slots];
    while (!s->ready) pthread_cond_wait(&p->ready_cv, &p->mu);
    *out = s->batch;
    volt_status st = s->status;
    char message[MESSAGE_CAPACITY];
    memcpy(message, s->message, sizeof message);
    memset(&s->batch, 0, sizeof s->batch);
    s->ready = false;
    p->next_take++;
    pthread_cond_broadcast(&p->space_cv);
    pthread_mutex_unlock(&p->mu);
    if (st != VOLT_OK) volt_error_set(st, "%s", message);
    return st;
}

static void pool_free(volt_loader_pool *p) {
    for (int64_t i = 0; i < p->n_slots; i++)
        if (p->slots[i].ready) volt_batch_free(&p->slots[i].batch);
    pthread_cond_destroy(&p->ready_cv);
    pthread_cond_destroy(&p->space_cv);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p->slots);
    free(p);
}

void volt_loader_pool_stop(volt_loader_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->space_cv);
    pthread_cond_broadcast(&p->ready_cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n_threads; i++) pthread_join(p->threads[i], NULL);
    pool_free(p);
}

volt_loader_pool *volt_loader_pool_start(volt_data_loader *l, int64_t first) {
    volt_loader_pool *p = calloc(1, sizeof *p);
    int workers = l->opt.num_workers;
    int64_t n_slots = (int64_t)l->opt.prefetch_factor * workers;
    if (p) {
        p->threads = calloc((size_t)workers, sizeof *p->threads);
        p->slots = calloc((size_t)n_slots, sizeof *p->slots);
    }
    if (!p || !p->threads || !p->slots) {
        if (p) {
            free(p->threads);
            free(p->slots);
        }
        free(p);
        volt_error_set(VOLT_ERR_OUT_OF_MEMORY, "data_loader: out of memory for %d workers",
                       workers);
        return NULL;
    }
    p->loader = l;
    p->n_slots = n_slots;
    p->next_build = p->next_take = first;
    p->end = l->n_batches;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->ready_cv, NULL);
    pthread_cond_init(&p->space_cv, NULL);
    for (int i = 0; i < workers; i++) {
        int rc = pthread_create(&p->threads[i], NULL, worker_main, p);
        if (rc != 0) {
            volt_loader_pool_stop(p); /* joins the i already started */
            volt_error_set(VOLT_ERR_INTERNAL, "data_loader: cannot start worker %d of %d: %s", i,
                           workers, strerror(rc));
            return NULL;
        }
        p->n_threads = i + 1;
    }
    return p;
}
