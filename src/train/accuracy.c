/* accuracy.c: volt_accuracy, the classification metric the examples log. */
#include "train/train_impl.h"

volt_tensor *volt_accuracy(const volt_tensor *logits, const volt_tensor *target) {
    if (!logits || !target) return NULL;
    if (logits->ndim < 1 || target->ndim != logits->ndim - 1 ||
        (target->ndim > 0 && target->shape[0] != logits->shape[0]) ||
        volt_dtype_is_float(target->dtype)) {
        char a[64], b[64];
        volt_error_set(VOLT_ERR_SHAPE,
                       "accuracy: logits %s and target %s (expected [N, C] and integer [N])",
                       volt_shape_str(logits, a, sizeof a), volt_shape_str(target, b, sizeof b));
        return NULL;
    }
    volt_tensor *result = NULL;
    VOLT_NO_GRAD {
        volt_tensor *pred = volt_argmax(logits, logits->ndim - 1, false);
        volt_tensor *hit = volt_eq(pred, volt_to_dtype(target, pred ? pred->dtype : VOLT_I64));
        result = volt_mean_all(volt_to_dtype(hit, VOLT_F32));
    }
    return result;
}
