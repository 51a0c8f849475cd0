/* test_cuda_accelerator.c: the trainer's and fabric's accelerator and
 * devices checks against the CUDA devices this machine has; runs on every
 * machine. accelerator "cuda" / "gpu" without a usable GPU fails at
 * volt_trainer_new / volt_fabric_new with the accelerator and the reason
 * (no CUDA backend, driver or device); with one, both are accepted and
 * more devices than exist are refused. "auto" (the default) runs on cuda:0
 * when there is a GPU, else on the CPU; "cpu" on the CPU. */
#include <stdio.h>
#include <string.h>

#include "volt_test.h"

/* What this machine says about cuda:0 without a usable GPU
 * (volt_device_check's reason). */
static const char *reason(void) {
    if (!volt_cuda_is_built()) return "cuda:0: this build of volt has no CUDA backend";
    return "cuda:0: no CUDA device is available (cudaGetDeviceCount: ";
}

static void test_trainer(void **state) {
    (void)state;
    const char *names[] = {"cuda", "gpu"};
    char want[128];
    for (int i = 0; i < 2; i++) {
        volt_trainer_config cfg = volt_trainer_defaults();
        cfg.accelerator = names[i];
        cfg.enable_progress_bar = false;
        volt_trainer *t = volt_trainer_new(&cfg);
        if (volt_cuda_is_available()) {
            assert_non_null(t);
            volt_trainer_free(t);
            continue;
        }
        assert_null(t);
        snprintf(want, sizeof want, "trainer: accelerator '%s'", names[i]);
        assert_non_null(strstr(volt_error_message(), want));
        VT_ASSERT_ERROR(VOLT_ERR_DEVICE, reason());
    }
    int n = volt_cuda_device_count();
    if (n > 0) {
        volt_trainer_config cfg = volt_trainer_defaults();
        cfg.accelerator = "cuda";
        cfg.devices = n + 1;
        assert_null(volt_trainer_new(&cfg));
        snprintf(want, sizeof want,
                 "trainer: accelerator 'cuda': devices = %d, but this machine has", n + 1);
        VT_ASSERT_ERROR(VOLT_ERR_DEVICE, want);
    }
    /* "auto" and "cpu" are taken whatever the machine has; float16 under
     * "auto" only where it means a GPU */
    const char *any[] = {"auto", "cpu"};
    for (int i = 0; i < 2; i++) {
        volt_trainer_config cfg = volt_trainer_defaults();
        cfg.accelerator = any[i];
        cfg.enable_progress_bar = false;
        volt_trainer *t = volt_trainer_new(&cfg);
        assert_non_null(t);
        volt_trainer_free(t);
    }
    volt_trainer_config cfg = volt_trainer_defaults();
    cfg.precision = "16-mixed";
    volt_trainer *t = volt_trainer_new(&cfg);
    if (volt_cuda_is_available()) {
        assert_non_null(t);
        volt_trainer_free(t);
    } else {
        assert_null(t);
        VT_ASSERT_ERROR(VOLT_ERR_UNSUPPORTED,
                        "trainer: precision '16-mixed' needs a GPU (accelerator 'auto' runs on "
                        "the CPU");
    }
    VT_ASSERT_NO_ERROR();
}

static void test_fabric(void **state) {
    (void)state;
    volt_fabric *g = volt_fabric_new(&(volt_fabric_options){.accelerator = "gpu"});
    if (volt_cuda_is_available()) {
        assert_non_null(g);
        volt_fabric_free(g);
    } else {
        assert_null(g);
        assert_non_null(strstr(volt_error_message(), "fabric: accelerator 'gpu'"));
        VT_ASSERT_ERROR(VOLT_ERR_DEVICE, reason());
    }
    int n = volt_cuda_device_count();
    if (n > 0) {
        assert_null(
            volt_fabric_new(&(volt_fabric_options){.accelerator = "cuda", .devices = n + 1}));
        VT_ASSERT_ERROR(VOLT_ERR_DEVICE, "but this machine has");
    }
    /* "auto" (NULL too) works on cuda:0 where there is a GPU; "cpu" never */
    const char *names[] = {"auto", NULL, "cpu"};
    for (int i = 0; i < 3; i++) {
        volt_fabric *f = volt_fabric_new(&(volt_fabric_options){.accelerator = names[i]});
        assert_non_null(f);
        assert_int_equal(volt_fabric_launch(f), VOLT_OK);
        volt_device d = volt_fabric_device(f);
        bool gpu = volt_cuda_is_available() && i < 2;
        assert_int_equal(d.type, gpu ? VOLT_CUDA : VOLT_CPU);
        assert_int_equal(d.index, 0);
        volt_fabric_free(f);
    }
    VT_ASSERT_NO_ERROR();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        VT_TEST(test_trainer),
        VT_TEST(test_fabric),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
