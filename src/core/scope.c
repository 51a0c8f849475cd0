/* scope.c: the thread-local stack of scopes that own tensors (DESIGN.md §2).
 * A scope holds one reference to each tensor it owns and releases them all
 * when it ends; volt_keep moves a tensor one scope out, volt_persist hands it
 * to the caller. */
#include <pthread.h>
#include <stdlib.h>

#include "core/core_impl.h"

typedef struct {
    volt_tensor **items;
    int64_t count;
    int64_t capacity;
} scope_frame;

static _Thread_local scope_frame *frames;
static _Thread_local int frame_count;
static _Thread_local int frame_capacity;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* The frames stay allocated between steps; a thread's are freed when it
 * exits. */
static void release_frames(void *unused) {
    (void)unused;
    for (int i = 0; i < frame_capacity; i++) free(frames[i].items);
    free(frames);
    frames = NULL;
    frame_capacity = 0;
}

static void make_key(void) { pthread_key_create(&exit_key, release_frames); }

void volt_scope_begin(void) {
    if (frame_count == frame_capacity) {
        int cap = frame_capacity ? 2 * frame_capacity : 16;
        if (frame_capacity == 0) {
            pthread_once(&key_once, make_key);
            pthread_setspecific(exit_key, &frame_count);
        }
        scope_frame *f = realloc(frames, (size_t)cap * sizeof *f);
        VOLT_ASSERT(f != NULL);
        for (int i = frame_capacity; i < cap; i++) f[i] = (scope_frame){0};
        frames = f;
        frame_capacity = cap;
    }
    frames[frame_count++].count = 0;
}

int volt_scope_depth(void) { return frame_count; }

static void frame_push(int depth, volt_tensor *t) {
    scope_frame *f = &frames[depth];
    if (f->count == f->capacity) {
        int64_t cap = f->capacity ? 2 * f->capacity : 64;
        volt_tensor **items = realloc(f->items, (size_t)cap * sizeof *items);
        VOLT_ASSERT(items != NULL);
        f->items = items;
        f->capacity = cap;
    }
    t->scope_depth = depth;
    t->scope_slot = f->count;
    f->items[f->count++] = t;
}

void volt_scope_adopt(volt_tensor *t) {
    if (frame_count == 0) {
        t->scope_depth = -1;
        return;
    }
    frame_push(frame_count - 1, t);
}

void volt_scope_forget(volt_tensor *t) {
    if (t->scope_depth < 0) return;
    VOLT_ASSERT(t->scope_depth < frame_count);
    scope_frame *f = &frames[t->scope_depth];
    VOLT_ASSERT(f->items[t->scope_slot] == t);
    f->items[t->scope_slot] = NULL;
    /* Trim trailing holes so a frame that frees as it goes stays small. */
    while (f->count > 0 && f->items[f->count - 1] == NULL) f->count--;
    t->scope_depth = -1;
}

void volt_scope_end(void) {
    if (frame_count == 0) {
        volt_error_set(VOLT_ERR_STATE, "scope_end: no scope is open");
        return;
    }
    scope_frame *f = &frames[frame_count - 1];
    /* Release newest first; a released tensor may release others it holds,
     * but never one this frame still owns (the frame holds a reference). */
    while (f->count > 0) {
        volt_tensor *t = f->items[--f->count];
        if (!t) continue;
        t->scope_depth = -1;
        volt_tensor_release(t);
    }
    frame_count--;
}

volt_tensor *volt_keep(volt_tensor *t) {
    if (!t || t->scope_depth < 0) return t;
    int depth = t->scope_depth;
    volt_scope_forget(t);
    if (depth > 0) frame_push(depth - 1, t);
    return t;
}

volt_tensor *volt_persist(volt_tensor *t) {
    if (t) volt_scope_forget(t);
    return t;
}

void volt_tensor_free(volt_tensor *t) {
    if (!t) return;
    volt_scope_forget(t);
    volt_tensor_release(t);
}
