/* test_interop.c: volt <-> PyTorch through safetensors files (DESIGN.md §4),
 * with tests/io/interop/check_checkpoint.py run by a Python that has torch
 * and the `safetensors` package: (a) a checkpoint volt writes after a tiny
 * fit opens with safetensors.torch.load_file / safe_open, every tensor equal
 * by name to what volt holds, metadata and CRC-32 checksum as written, and
 * its state_dict.* loads strictly into the same network built in torch with
 * the same eval-mode output; (b) a torch nn.Sequential's state dict written
 * with safetensors.torch.save_file loads strictly into the matching volt
 * Sequential (volt_module_load) with equal values and the same eval output.
 * The Python: $VOLT_PYTHON, else <source>/.venv/bin/python3, else
 * <source>/bench/.venv/bin/python3, else /usr/bin/python3 (Debian's
 * python3-torch), else python3 on PATH — the first that imports both. None:
 * a visible "SKIPPED" line and exit 77 (ctest: skipped). Setting one up:
 *     /usr/bin/python3 -m venv --system-site-packages .venv
 *     .venv/bin/pip install safetensors */
#include "volt_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "python_script.h"

#include <volt/io.h>

#include "tiny_checkpoint.h"

/* This test's scratch directory, and a path in it (from a ring of 8). */
static const char *tmp_dir(void) {
    const char *dir = getenv("VOLT_TEST_TMPDIR");
    return dir && *dir ? dir : "/tmp";
}
static const char *tmp_path(const char *name) {
    static char buf[8][1024];
    static int next;
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", tmp_dir(), name);
    return out;
}

/* ------------------------------------------------------- JSON helpers */

/* [v0, v1, ...] of every element of t, as doubles printed with 17
 * significant digits: exact (cJSON's own number printing may drop the last
 * bit), for f32 and for i64 values below 2^53. */
static cJSON *json_values(const volt_tensor *t) {
    cJSON *a = cJSON_CreateArray();
    for (int64_t i = 0; i < volt_tensor_numel(t); i++) {
        char text[40];
        snprintf(text, sizeof text, "%.17g", volt_tensor_get_flat(t, i));
        cJSON_AddItemToArray(a, cJSON_CreateRaw(text));
    }
    return a;
}

static cJSON *json_shape(const volt_tensor *t) {
    cJSON *a = cJSON_CreateArray();
    for (int d = 0; d < t->ndim; d++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber((double)t->shape[d]));
    return a;
}

static void json_write(const char *path, const cJSON *root) {
    char *text = cJSON_PrintUnformatted(root);
    assert_non_null(text);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
    cJSON_free(text);
}

static cJSON *json_read(const char *path) {
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
    text[n] = '\0';
    fclose(fp);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    return root;
}

/* The doubles of a JSON array, malloc'd; *n their count. */
static double *json_doubles(const cJSON *a, int64_t *n) {
    assert_true(cJSON_IsArray(a));
    *n = cJSON_GetArraySize(a);
    double *v = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *v);
    int64_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next) v[i++] = e->valuedouble;
    return v;
}

/* ---------------------------------------------------- (a) volt -> torch */

/* What the script compares against: every tensor of the checkpoint as volt
 * reads it (dtype, shape, values), the metadata, and the eval-mode output of
 * a fresh module loaded from the checkpoint on the training inputs. */
static cJSON *expected_of_checkpoint(const char *path) {
    cJSON *root = cJSON_CreateObject(), *tensors = cJSON_CreateObject();
    cJSON *meta = cJSON_CreateObject(), *forward = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "tensors", tensors);
    cJSON_AddItemToObject(root, "metadata", meta);
    cJSON_AddItemToObject(root, "forward", forward);
    volt_safetensors *f = volt_safetensors_open(path);
    assert_non_null(f);
    for (int i = 0; i < volt_safetensors_count(f); i++) {
        const char *name = volt_safetensors_name(f, i);
        volt_tensor *t = volt_safetensors_get(f, name);
        assert_non_null(t);
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "dtype", volt_safetensors_dtype_name(t->dtype));
        cJSON_AddItemToObject(e, "shape", json_shape(t));
        cJSON_AddItemToObject(e, "values", json_values(t));
        cJSON_AddItemToObject(tensors, name, e);
    }
    for (int i = 0; i < volt_safetensors_metadata_count(f); i++) {
        const char *key = volt_safetensors_metadata_key(f, i);
        cJSON_AddStringToObject(meta, key, volt_safetensors_metadata(f, key));
    }
    volt_safetensors_close(f);

    tiny_net m;
    tiny_net_init(&m);
    assert_int_equal(volt_module_load_checkpoint(&m.base, path, true, NULL), VOLT_OK);
    volt_module_train(&m.base, false);
    volt_tensor *x = tiny_net_inputs();
    volt_tensor *y = tiny_net_forward(&m, x);
    assert_non_null(y);
    cJSON_AddItemToObject(forward, "x", json_values(x));
    cJSON_AddItemToObject(forward, "x_shape", json_shape(x));
    cJSON_AddItemToObject(forward, "y", json_values(y));
    cJSON_AddItemToObject(forward, "y_shape", json_shape(y));
    volt_module_free(&m.base);
    return root;
}

static void test_volt_checkpoint_opens_in_torch(void **state) {
    (void)state;
    /* A full checkpoint and a weights-only one (one Python run: importing
     * torch takes a second). */
    const char *ckpt = tmp_path("volt.ckpt"), *json = tmp_path("volt.expected.json");
    const char *wo = tmp_path("volt-weights.ckpt"), *wo_json = tmp_path("volt-weights.json");
    tiny_checkpoint_write(tmp_dir(), ckpt, false);
    tiny_checkpoint_write(tmp_dir(), wo, true);
    cJSON *expected = expected_of_checkpoint(ckpt);
    json_write(json, expected);
    cJSON_Delete(expected);
    expected = expected_of_checkpoint(wo);
    json_write(wo_json, expected);
    cJSON_Delete(expected);
    assert_int_equal(run_script(python, "read", ckpt, json, wo, wo_json, NULL), 0);
}

/* ---------------------------------------------------- (b) torch -> volt */

static void test_torch_state_dict_loads_into_volt(void **state) {
    (void)state;
    const char *file = tmp_path("torch_sequential.safetensors");
    const char *json = tmp_path("torch_sequential.json");
    assert_int_equal(run_script(python, "write", file, json, NULL), 0);

    /* Sequential(Linear(3, 4), BatchNorm1d(4), Linear(4, 2)), volt's own
     * initial weights until the load. */
    volt_sequential *seq = volt_sequential_new(NULL, "seq");
    assert_non_null(seq);
    assert_non_null(volt_linear_new(&seq->base, "0", 3, 4));
    assert_non_null(volt_batch_norm1d_new(&seq->base, "1", 4, NULL));
    assert_non_null(volt_linear_new(&seq->base, "2", 4, 2));
    assert_int_equal(volt_module_load(&seq->base, file, true, NULL), VOLT_OK);

    cJSON *root = json_read(json);
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(root, "state_dict");
    int n_keys = 0;
    for (const cJSON *e = sd->child; e; e = e->next, n_keys++) {
        volt_tensor *t = volt_module_get(&seq->base, e->string);
        if (!t) fail_msg("torch's key '%s' is not in the volt module", e->string);
        int64_t n;
        double *want = json_doubles(cJSON_GetObjectItemCaseSensitive(e, "values"), &n);
        assert_int_equal(volt_tensor_numel(t), n);
        VT_ASSERT_CLOSE(t, want, n, 0, 0); /* exactly torch's values */
        free(want);
    }
    assert_int_equal(n_keys, 9); /* 0.{weight,bias}, 1.{weight,bias,running_*,num_*}, 2.* */

    int64_t nx, ny;
    double *xs = json_doubles(cJSON_GetObjectItemCaseSensitive(root, "x"), &nx);
    double *ys = json_doubles(cJSON_GetObjectItemCaseSensitive(root, "y"), &ny);
    assert_int_equal(nx, 15);
    assert_int_equal(ny, 10);
    volt_tensor *x = volt_to_dtype(volt_from_array(xs, VOLT_F64, 2, (int64_t[]){5, 3}), VOLT_F32);
    volt_module_train(&seq->base, false);
    volt_tensor *y = volt_sequential_forward(seq, x);
    assert_non_null(y);
    VT_ASSERT_SHAPE(y, 5, 2);
    VT_ASSERT_CLOSE(y, ys, ny, 1e-5, 1e-6);
    free(xs);
    free(ys);
    cJSON_Delete(root);
    volt_module_free(&seq->base);
}

int main(void) {
    if (!find_python("check_checkpoint.py")) {
        printf("SKIPPED: io/test_interop: no Python with torch and safetensors (tried "
               "$VOLT_PYTHON, .venv, bench/.venv, /usr/bin/python3, python3); set one up with\n"
               "  /usr/bin/python3 -m venv --system-site-packages .venv && "
               ".venv/bin/pip install safetensors\n");
        return 77;
    }
    printf("interop: using %s\n", python);
    const struct CMUnitTest tests[] = {
        VT_TEST(test_volt_checkpoint_opens_in_torch),
        VT_TEST(test_torch_state_dict_loads_into_volt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
