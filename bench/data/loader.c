/* loader.c: the data benchmark, volt's side (bench/data/run.sh runs it
 * beside loader_torch.py). Batches per second of a shuffled Fashion-MNIST
 * training loader (60,000 images, batch 128, x f32 [128, 1, 28, 28] = u8 /
 * 255, y i64 [128]) at 0, 1 and 2 workers, without and with augmentation
 * (random crop 28 with padding 4, horizontal flip p = 0.5, normalize
 * (0.2860, 0.3530), random erasing p = 0.5). Each figure is the best of
 * `epochs` whole epochs, timed from the first next() (workers start) to the
 * end. Prints one JSON line per figure.
 * Usage: bench_data_loader [data_dir] [epochs]  (default: the Debian dir, 3) */
#include <stdio.h>
#include <stdlib.h>

#include <volt/volt.h>
#include <volt/data.h>

static double epoch_seconds(volt_data_loader *l, int64_t *batches) {
    double t0 = volt_time_now();
    volt_batch b;
    *batches = 0;
    for (;;) {
        volt_scope_begin();
        bool more = volt_data_loader_next(l, &b);
        volt_scope_end();
        if (!more) break;
        (*batches)++;
    }
    return volt_time_now() - t0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : VOLT_FASHION_MNIST_DIR;
    int epochs = argc > 2 ? atoi(argv[2]) : 3;
    char images[1024], labels[1024];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", dir);
    volt_dataset *ds = volt_idx_dataset_new(images, labels);
    if (!ds) {
        fprintf(stderr, "%s\n", volt_error_message());
        return 1;
    }
    volt_transform augment[4] = {
        volt_transform_random_crop(28, 4), volt_transform_random_hflip(0.5),
        volt_transform_normalize(1, (double[]){0.2860}, (double[]){0.3530}),
        volt_transform_random_erasing(0.5)};
    for (int aug = 0; aug <= 1; aug++)
        for (int workers = 0; workers <= 2; workers++) {
            volt_data_loader *l =
                volt_data_loader_new(ds, &(volt_data_loader_options){.batch_size = 128,
                                                                     .shuffle = true,
                                                                     .seed = 1,
                                                                     .num_workers = workers,
                                                                     .prefetch_factor = 2,
                                                                     .transforms = augment,
                                                                     .n_transforms = aug ? 4 : 0});
            double best = 1e30;
            int64_t batches = 0;
            for (int e = 0; e < epochs && l; e++) {
                double s = epoch_seconds(l, &batches);
                if (s < best) best = s;
            }
            if (!l || volt_error_status() != VOLT_OK) {
                fprintf(stderr, "%s\n", volt_error_message());
                return 1;
            }
            printf("{\"bench\": \"data.loader\", \"impl\": \"volt\", \"augment\": %s, "
                   "\"workers\": %d, \"batch_size\": 128, \"batches\": %lld, "
                   "\"batches_per_s\": %.1f}\n",
                   aug ? "true" : "false", workers, (long long)batches, (double)batches / best);
            fflush(stdout);
            volt_data_loader_free(l);
        }
    volt_dataset_free(ds);
    return 0;
}
