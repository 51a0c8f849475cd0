/* ref_f64.h: how the reference kernels of conv, pooling and batch norm see
 * their operands — as f64 arrays: f64 tensors directly, f32 ones through
 * converted copies (outputs are converted back at the end). */
#ifndef VOLT_REF_F64_H
#define VOLT_REF_F64_H

#include "ops/ops_impl.h"

#define VOLT_REF_MAX_OPERANDS 8

typedef struct {
    volt_tensor *tmp[VOLT_REF_MAX_OPERANDS];
    volt_tensor *target[VOLT_REF_MAX_OPERANDS]; /* outputs to convert back into */
    int n;
    bool ok; /* false once an allocation failed */
} volt_ref_frame;

volt_ref_frame volt_ref_begin(void);
/* The f64 data of a contiguous f32/f64 input; NULL for a NULL t (or on
 * failure, then frame->ok is false). */
double *volt_ref_in(volt_ref_frame *f, const volt_tensor *t);
/* Where the kernel writes a contiguous f32/f64 output. */
double *volt_ref_out(volt_ref_frame *f, volt_tensor *t);
/* Converts the outputs back (when all went well), frees the copies; returns
 * VOLT_OK or the error recorded. */
volt_status volt_ref_end(volt_ref_frame *f);

#endif
