/* ref_f64.c: f64 views of f32/f64 operands for the reference kernels (see
 * ref_f64.h). */
#include "ops/cpu/ref_f64.h"

#include "ops/cpu/cpu_kernels.h"

volt_ref_frame volt_ref_begin(void) { return (volt_ref_frame){.ok = true}; }

static double *view(volt_ref_frame *f, const volt_tensor *t, bool output) {
    if (!t || !f->ok) return NULL;
    if (t->dtype == VOLT_F64) return volt_tensor_data(t);
    VOLT_ASSERT(f->n < VOLT_REF_MAX_OPERANDS);
    volt_tensor *c = volt_tensor_new(VOLT_F64, t->device, t->ndim, t->shape);
    if (!c) {
        f->ok = false;
        return NULL;
    }
    if (!output) volt_cpu_copy(c, t);
    f->tmp[f->n] = c;
    f->target[f->n++] = output ? (volt_tensor *)t : NULL;
    return volt_tensor_data(c);
}

double *volt_ref_in(volt_ref_frame *f, const volt_tensor *t) { return view(f, t, false); }

double *volt_ref_out(volt_ref_frame *f, volt_tensor *t) { return view(f, t, true); }

volt_status volt_ref_end(volt_ref_frame *f) {
    for (int i = 0; i < f->n; i++) {
        if (f->ok && f->target[i]) volt_cpu_copy(f->target[i], f->tmp[i]);
        volt_tensor_free(f->tmp[i]);
    }
    f->n = 0;
    return f->ok ? VOLT_OK : volt_error_status();
}
