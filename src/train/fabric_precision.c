/* fabric_precision.c: precision "16-mixed" in fabric — Lightning's
 * MixedPrecision plugin over torch's GradScaler, on the trainer's scaler
 * (grad_scaler.c): backward scales the loss, clip_gradients and
 * optimizer_step divide an optimizer's gradients by the scale once per
 * step, and a step whose gradients hold an inf or NaN is skipped while the
 * scale backs off. */
#include "train/fabric_impl.h"

volt_tensor *volt_fabric_scale_loss(volt_fabric *f, volt_tensor *loss) {
    return volt_grad_scaler_scale(&f->scaler, loss);
}

volt_status volt_fabric_unscale(volt_fabric *f, volt_fabric_optimizer *e) {
    if (!f->scaler.enabled || e->unscaled) return VOLT_OK;
    volt_status st = volt_grad_scaler_unscale(&f->scaler, e->optimizer);
    bool found_inf = st || f->scaler.found_inf;
    /* zero1: each rank unscaled its own shard; the ranks skip together */
    if (f->zero1 && e->optimizer == volt_zero1_optimizer(f->zero1)) {
        volt_status agree = volt_fabric_reduce_bool(f, &found_inf, false);
        if (!st) st = agree;
    }
    e->unscaled = true;
    e->found_inf = found_inf;
    return st;
}

volt_status volt_fabric_scaled_step(volt_fabric *f, volt_fabric_optimizer *e) {
    if (!f->scaler.enabled) return volt_optimizer_step(e->optimizer);
    volt_status st = volt_fabric_unscale(f, e);
    if (!st && !e->found_inf) st = volt_optimizer_step(e->optimizer);
    f->scaler.found_inf = e->found_inf;
    volt_grad_scaler_update(&f->scaler);
    e->unscaled = e->found_inf = false;
    return st;
}
