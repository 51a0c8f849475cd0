/* train_cnn.c: trains a built-in model (cnn by default) on Fashion-MNIST
 * with the trainer and measures it: per epoch the wall and user CPU
 * seconds, train loss and validation accuracy; at the end the test accuracy
 * of the final weights and the totals (fit + test). Settings are key=value
 * arguments:
 *
 *   model=cnn|resnet|mlp  epochs=12  bs=128  lr=1e-3  wd=0  adamw=0
 *   sched=none|onecycle|cosine  (onecycle: max_lr = lr, per step;
 *                                cosine: per epoch down to 0)
 *   channels=32 hidden=128 dropout=0.25  (cnn)   width=16 blocks=2 (resnet)
 *   crop=0 (random crop padding, 0: none) flip=0 (p) erase=0 (p)
 *   norm=0 (1: normalize pixels with mean 0.286, std 0.353, every loader)
 *   workers=1 threads=2 seed=42 val_size=5000 limit=1.0 (train batches:
 *   a fraction, or a count > 1) data=/usr/share/datasets/fashion-mnist
 *   demo=0 (1: CSV/TensorBoard logs and a val_acc ModelCheckpoint under
 *   ./volt_logs, and the test runs on the best checkpoint, as the demo does)
 *
 * Prints one JSON line per epoch and one for the result. Not a test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <volt/volt.h>

#include "../common/args.h"

typedef struct {
    const char *model, *sched, *data;
    int64_t epochs, bs, channels, hidden, width, blocks, crop, val_size, seed;
    double lr, wd, dropout, flip, erase, limit;
    int adamw, workers, threads, demo, norm;
} settings;

static double arg_num(int argc, char **argv, const char *key, double def) {
    const char *v = arg_str(argc, argv, key, NULL);
    return v ? atof(v) : def;
}

static settings parse(int argc, char **argv) {
    settings s = {
        .model = arg_str(argc, argv, "model", "cnn"),
        .sched = arg_str(argc, argv, "sched", "none"),
        .data = arg_str(argc, argv, "data", NULL),
        .epochs = (int64_t)arg_num(argc, argv, "epochs", 12),
        .bs = (int64_t)arg_num(argc, argv, "bs", 128),
        .channels = (int64_t)arg_num(argc, argv, "channels", 32),
        .hidden = (int64_t)arg_num(argc, argv, "hidden", 128),
        .width = (int64_t)arg_num(argc, argv, "width", 16),
        .blocks = (int64_t)arg_num(argc, argv, "blocks", 2),
        .crop = (int64_t)arg_num(argc, argv, "crop", 0),
        .val_size = (int64_t)arg_num(argc, argv, "val_size", 5000),
        .seed = (int64_t)arg_num(argc, argv, "seed", 42),
        .lr = arg_num(argc, argv, "lr", 1e-3),
        .wd = arg_num(argc, argv, "wd", 0),
        .dropout = arg_num(argc, argv, "dropout", 0.25),
        .flip = arg_num(argc, argv, "flip", 0),
        .erase = arg_num(argc, argv, "erase", 0),
        .limit = arg_num(argc, argv, "limit", 1.0),
        .adamw = (int)arg_num(argc, argv, "adamw", 0),
        .workers = (int)arg_num(argc, argv, "workers", 1),
        .threads = (int)arg_num(argc, argv, "threads", 2),
        .demo = (int)arg_num(argc, argv, "demo", 0),
        .norm = (int)arg_num(argc, argv, "norm", 0),
    };
    return s;
}

static double cpu_user(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6;
}

/* ------------------------------------------------- optimizer, schedule */

typedef struct {
    const settings *s;
    int64_t steps_per_epoch;
} opt_ctx;

static volt_status configure(void *ctx, volt_module *module, volt_optim_setup *setup) {
    opt_ctx *c = ctx;
    const settings *s = c->s;
    volt_adam_options ao = {.lr = s->lr, .weight_decay = s->wd > 0 ? s->wd : VOLT_OPTIM_ZERO};
    volt_optimizer *opt = s->adamw ? volt_adamw_new(volt_module_parameters(module), &ao)
                                   : volt_adam_new(volt_module_parameters(module), &ao);
    if (!opt) return volt_error_status();
    if (strcmp(s->sched, "onecycle") == 0)
        return volt_optim_setup_add(
            setup, opt, volt_one_cycle_lr_new(opt, s->lr, s->epochs * c->steps_per_epoch, NULL),
            VOLT_INTERVAL_STEP);
    if (strcmp(s->sched, "cosine") == 0)
        return volt_optim_setup_add(setup, opt, volt_cosine_lr_new(opt, s->epochs),
                                    VOLT_INTERVAL_EPOCH);
    return volt_optim_setup_add(setup, opt, NULL, VOLT_INTERVAL_EPOCH);
}

/* ------------------------------------------------ per-epoch reporting */

typedef struct {
    volt_callback base;
    double t0, c0, last_t, last_c;
} reporter;

static volt_status report_epoch(volt_callback *self, volt_module *m, volt_step *step) {
    (void)m;
    reporter *r = (reporter *)self;
    volt_trainer *t = volt_step_trainer(step);
    double now = volt_time_now(), cpu = cpu_user();
    const volt_metrics *cm = volt_trainer_callback_metrics(t);
    printf("{\"epoch\": %lld, \"wall_s\": %.1f, \"user_s\": %.1f, \"total_wall_s\": %.1f, "
           "\"train_loss\": %.4f, \"val_loss\": %.4f, \"val_acc\": %.4f}\n",
           (long long)volt_trainer_current_epoch(t), now - r->last_t, cpu - r->last_c, now - r->t0,
           volt_metrics_get(cm, "train_loss"), volt_metrics_get(cm, "val_loss"),
           volt_metrics_get(cm, "val_acc"));
    fflush(stdout);
    r->last_t = now;
    r->last_c = cpu;
    return VOLT_OK;
}

static const volt_callback_ops reporter_ops = {
    .name = "reporter", .monitoring = true, .on_train_epoch_end = report_epoch};

/* ---------------------------------------------------------------- main */

static volt_module *make_model(const settings *s) {
    if (strcmp(s->model, "resnet") == 0) {
        volt_resnet_options o = volt_resnet_defaults();
        o.width = s->width;
        o.blocks = s->blocks;
        o.lr = s->lr;
        o.weight_decay = s->wd;
        return volt_resnet_new(&o);
    }
    if (strcmp(s->model, "mlp") == 0) {
        volt_mlp_options o = volt_mlp_defaults();
        o.hidden = s->hidden;
        o.dropout = s->dropout;
        o.lr = s->lr;
        return volt_mlp_new(&o);
    }
    volt_cnn_options o = volt_cnn_defaults();
    o.channels = s->channels;
    o.hidden = s->hidden;
    o.dropout = s->dropout;
    o.lr = s->lr;
    o.weight_decay = s->wd;
    return volt_cnn_new(&o);
}

/* Training: crop, flip, normalize, erase (torchvision's order: padding is
 * black, erased patches the mean); evaluation: normalize only. */
static int n_transforms(const settings *s, volt_transform *t) {
    int n = 0;
    if (s->crop > 0) t[n++] = volt_transform_random_crop(28, s->crop);
    if (s->flip > 0) t[n++] = volt_transform_random_hflip(s->flip);
    if (s->norm) t[n++] = volt_transform_normalize(1, (double[]){0.286}, (double[]){0.353});
    if (s->erase > 0) t[n++] = volt_transform_random_erasing(s->erase);
    return n;
}

int main(int argc, char **argv) {
    settings s = parse(argc, argv);
    double t0 = volt_time_now(), c0 = cpu_user();
    volt_seed_everything((uint64_t)s.seed);
    volt_transform tr[4];
    int ntr = n_transforms(&s, tr);
    volt_transform norm = volt_transform_normalize(1, (double[]){0.286}, (double[]){0.353});
    volt_datamodule *data =
        volt_fashion_mnist_new(&(volt_fashion_mnist_options){.data_dir = s.data,
                                                             .batch_size = s.bs,
                                                             .num_workers = s.workers,
                                                             .val_size = s.val_size,
                                                             .seed = (uint64_t)s.seed,
                                                             .as_images = true,
                                                             .train_transforms = tr,
                                                             .n_train_transforms = ntr,
                                                             .eval_transforms = &norm,
                                                             .n_eval_transforms = s.norm});
    volt_module *model = make_model(&s);
    volt_trainer_config cfg = volt_trainer_defaults();
    cfg.accelerator = "cpu";
    cfg.max_epochs = s.epochs;
    cfg.num_threads = s.threads;
    cfg.enable_progress_bar = false;
    /* demo=1: what `volt fit` + `volt test` do (logs and checkpoints under
     * ./volt_logs, the best val_acc checkpoint tested); else no files */
    cfg.enable_checkpointing = s.demo != 0;
    cfg.logger = s.demo != 0;
    cfg.limit_train_batches = s.limit > 1 ? VOLT_BATCHES(s.limit) : s.limit;
    cfg.num_sanity_val_steps = 0;
    volt_trainer *t = data && model ? volt_trainer_new(&cfg) : NULL;
    int64_t n_train = 60000 - (s.val_size < 0 ? 0 : s.val_size);
    int64_t per_epoch = (n_train + s.bs - 1) / s.bs;
    if (s.limit > 1)
        per_epoch = (int64_t)s.limit;
    else if (s.limit < 1)
        per_epoch = (int64_t)ceil((double)per_epoch * s.limit);
    opt_ctx oc = {.s = &s, .steps_per_epoch = per_epoch};
    reporter *rep = calloc(1, sizeof *rep);
    rep->base.ops = &reporter_ops;
    rep->t0 = rep->last_t = t0;
    rep->c0 = rep->last_c = c0;
    volt_status st = t ? VOLT_OK : volt_error_status();
    if (st == VOLT_OK) {
        volt_trainer_set_configure_optimizers(t, configure, &oc);
        st = volt_trainer_add_callback(t, &rep->base);
    } else {
        free(rep);
    }
    volt_metrics *res = NULL;
    if (st == VOLT_OK && s.demo) {
        volt_model_checkpoint_options mc = volt_model_checkpoint_defaults();
        mc.monitor = "val_acc";
        mc.mode = "max";
        st = volt_trainer_add_callback(t, volt_model_checkpoint_new(&mc));
    }
    if (st == VOLT_OK) st = volt_trainer_fit(t, model, data, NULL);
    if (st == VOLT_OK) st = volt_trainer_test(t, model, data, s.demo ? "best" : NULL, &res);
    if (st == VOLT_OK)
        printf("{\"model\": \"%s\", \"params\": %lld, \"test_acc\": %.4f, \"test_loss\": %.4f, "
               "\"wall_s\": %.1f, \"user_s\": %.1f}\n",
               s.model, (long long)volt_module_num_parameters(model, false),
               volt_metrics_get(res, "test_acc"), volt_metrics_get(res, "test_loss"),
               volt_time_now() - t0, cpu_user() - c0);
    else
        fprintf(stderr, "%s\n", volt_error_message());
    volt_metrics_free(res);
    volt_trainer_free(t);
    volt_module_free(model);
    volt_datamodule_free(data);
    return st == VOLT_OK ? 0 : 1;
}
