/* fabric_device.c: the fabric's device (cuda:(local rank) on a GPU, else
 * the CPU) and Lightning's fabric.to_device: a tensor, or every field of a
 * batch, copied there — a CPU source through pinned memory, so that the
 * copy is queued on the device's stream behind the previous step's kernels
 * instead of waiting for them — and, under "bf16-true" / "16-true",
 * floating ones cast to bf16 / f16 (Lightning does that in its module
 * wrapper's forward; volt has none). */
#include "train/fabric_impl.h"
#include "train/precision_impl.h"

/* Whether t is cast on its way: an f32/f64 tensor under "bf16-true" or
 * "16-true" (Lightning's convert_input). */
static bool casts(const volt_fabric *f, const volt_tensor *t) {
    return volt_precision_true_dtype(f->precision) != VOLT_F32 &&
           (t->dtype == VOLT_F32 || t->dtype == VOLT_F64);
}

/* t on the fabric's device (t itself when it is there and needs no cast),
 * in the current scope, cast where `casts` says. NULL with an error naming
 * `what`. */
static volt_tensor *move(const volt_fabric *f, const volt_tensor *t, const char *what) {
    if (casts(f, t)) {
        volt_dtype to = volt_precision_true_dtype(f->precision);
        volt_tensor *c = volt_to_dtype(t, to);
        if (!c)
            volt_error_prefix(volt_error_status(), "fabric: to_device: %s to %s", what,
                              volt_dtype_name(to));
        if (!c || volt_device_equal(c->device, f->device)) return c;
        t = c;
    }
    if (volt_device_equal(t->device, f->device)) return (volt_tensor *)t;
    const volt_tensor *src = t;
    if (t->device.type == VOLT_CPU && f->device.type == VOLT_CUDA && !volt_tensor_is_pinned(t))
        src = volt_pin_memory(t);
    volt_tensor *moved = src ? volt_to_device(src, f->device) : NULL;
    if (!moved) volt_error_prefix(volt_error_status(), "fabric: to_device: %s", what);
    return moved;
}

volt_tensor *volt_fabric_tensor_to_device(volt_fabric *f, const volt_tensor *t) {
    if (volt_fabric_need_launch(f, "to_device")) return NULL;
    if (!t) {
        volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: to_device: NULL tensor");
        return NULL;
    }
    return move(f, t, "the tensor");
}

volt_status volt_fabric_to_device(volt_fabric *f, volt_batch *batch) {
    volt_status st = volt_fabric_need_launch(f, "to_device");
    if (st) return st;
    if (!batch) return volt_error_set(VOLT_ERR_INVALID_ARGUMENT, "fabric: to_device: NULL batch");
    for (int i = 0; i < batch->n_fields && !st; i++) {
        volt_tensor *t = batch->fields[i];
        if (!t || (!casts(f, t) && volt_device_equal(t->device, f->device))) continue;
        char what[96];
        snprintf(what, sizeof what, "field '%s'", batch->names[i] ? batch->names[i] : "?");
        volt_tensor *moved = move(f, t, what);
        st = moved ? volt_batch_set(batch, batch->names[i], moved) : volt_error_status();
    }
    return st;
}
