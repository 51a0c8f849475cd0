/* ckpt.c: `volt ckpt inspect FILE` lists a safetensors file — a checkpoint's
 * summary (epoch, global step, volt version, weights_only) first, then every
 * tensor (name, dtype, shape, bytes), the totals and the metadata, JSON
 * values pretty-printed — and `volt ckpt verify FILE` checks a checkpoint
 * (structure, format version, checksum: volt_checkpoint_verify), exit 0 when
 * sound and 1 with the reason otherwise. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include <volt/io.h>
#include <volt/train.h>

#include "volt_cli.h"

/* The prefix of the "format" metadata value of every checkpoint version. */
#define CKPT_FORMAT_PREFIX "volt-checkpoint-"
#define CKPT_FORMAT_KNOWN "volt-checkpoint-1"

static int cmd_inspect(int argc, char **argv);
static int cmd_verify(int argc, char **argv);

static const volt_cli_command subcommands[] = {
    {"inspect", "FILE", "list the tensors and metadata of a checkpoint (or any safetensors file)",
     cmd_inspect},
    {"verify", "FILE", "check a checkpoint: structure, format version, CRC-32 checksum",
     cmd_verify},
};
enum { N_SUBCOMMANDS = sizeof subcommands / sizeof subcommands[0] };

void volt_cli_ckpt_usage(FILE *out) {
    fprintf(out, "usage: volt ckpt SUBCOMMAND FILE\n\nsubcommands:\n");
    volt_cli_print_commands(out, subcommands, N_SUBCOMMANDS);
    fprintf(out, "\nverify exits 0 for a sound checkpoint, 1 (printing why) otherwise.\n");
}

int volt_cli_ckpt(int argc, char **argv) {
    if (argc >= 2 && volt_cli_is_help(argv[1])) {
        volt_cli_ckpt_usage(stdout);
        return VOLT_CLI_OK;
    }
    return volt_cli_dispatch("volt ckpt", subcommands, N_SUBCOMMANDS, argc - 1, argv + 1,
                             volt_cli_ckpt_usage);
}

/* The single FILE argument of a subcommand, or NULL after printing usage. */
static const char *file_argument(int argc, char **argv) {
    if (argc == 2) return argv[1];
    if (argc < 2)
        fprintf(stderr, "volt ckpt %s: missing FILE\n\n", argv[0]);
    else
        fprintf(stderr, "volt ckpt %s: expected one FILE, got %d arguments\n\n", argv[0], argc - 1);
    volt_cli_ckpt_usage(stderr);
    return NULL;
}

/* Opens `path`, printing the error on failure. */
static volt_safetensors *open_or_report(const char *path) {
    volt_safetensors *f = volt_safetensors_open(path);
    if (!f) {
        fprintf(stderr, "%s\n", volt_error_message());
        volt_error_clear();
    }
    return f;
}

static bool is_checkpoint(const volt_safetensors *f) {
    const char *format = volt_safetensors_metadata(f, "format");
    return format && strncmp(format, CKPT_FORMAT_PREFIX, strlen(CKPT_FORMAT_PREFIX)) == 0;
}

/* ------------------------------------------------------------- inspect */

static const char *meta_or(const volt_safetensors *f, const char *key, const char *fallback) {
    const char *v = volt_safetensors_metadata(f, key);
    return v ? v : fallback;
}

static void print_checkpoint_summary(const volt_safetensors *f) {
    const char *format = volt_safetensors_metadata(f, "format");
    printf("volt checkpoint (%s%s): epoch %s, global step %s, volt %s, weights_only %s\n", format,
           strcmp(format, CKPT_FORMAT_KNOWN) == 0 ? "" : ", a version this volt does not read",
           meta_or(f, "epoch", "?"), meta_or(f, "global_step", "?"),
           meta_or(f, "volt_version", "?"), meta_or(f, "weights_only", "?"));
}

/* "[2, 3]" into buf. */
static void format_shape(char *buf, size_t room, int ndim, const int64_t *shape) {
    size_t used = (size_t)snprintf(buf, room, "[");
    for (int d = 0; d < ndim && used < room; d++)
        used += (size_t)snprintf(buf + used, room - used, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (used < room) snprintf(buf + used, room - used, "]");
}

typedef struct {
    const char *name;
    const char *dtype;
    char shape[8 * 24];
    int64_t numel, bytes;
} tensor_row;

static int print_tensors(const volt_safetensors *f) {
    int n = volt_safetensors_count(f);
    tensor_row *rows = calloc((size_t)(n > 0 ? n : 1), sizeof *rows);
    if (!rows) {
        fprintf(stderr, "volt ckpt inspect: out of memory\n");
        return VOLT_CLI_FAIL;
    }
    int w_name = 4, w_dtype = 5, w_shape = 5;
    int64_t total_numel = 0, total_bytes = 0;
    for (int i = 0; i < n; i++) {
        tensor_row *r = &rows[i];
        volt_dtype dtype;
        int ndim = 0;
        int64_t shape[VOLT_MAX_DIMS];
        r->name = volt_safetensors_name(f, i);
        if (volt_safetensors_info(f, r->name, &dtype, &ndim, shape) != VOLT_OK) {
            fprintf(stderr, "%s\n", volt_error_message());
            volt_error_clear();
            free(rows);
            return VOLT_CLI_FAIL;
        }
        r->dtype = volt_safetensors_dtype_name(dtype);
        format_shape(r->shape, sizeof r->shape, ndim, shape);
        r->numel = 1;
        for (int d = 0; d < ndim; d++) r->numel *= shape[d];
        r->bytes = r->numel * (int64_t)volt_dtype_size(dtype);
        total_numel += r->numel;
        total_bytes += r->bytes;
        if ((int)strlen(r->name) > w_name) w_name = (int)strlen(r->name);
        if ((int)strlen(r->shape) > w_shape) w_shape = (int)strlen(r->shape);
    }
    printf("tensors: %d\n", n);
    if (n > 0)
        printf("  %-*s  %-*s  %-*s  %s\n", w_name, "NAME", w_dtype, "DTYPE", w_shape, "SHAPE",
               "BYTES");
    for (int i = 0; i < n; i++)
        printf("  %-*s  %-*s  %-*s  %" PRId64 "\n", w_name, rows[i].name, w_dtype, rows[i].dtype,
               w_shape, rows[i].shape, rows[i].bytes);
    printf("total: %d tensors, %" PRId64 " elements, %" PRId64 " bytes\n", n, total_numel,
           total_bytes);
    free(rows);
    return VOLT_CLI_OK;
}

/* cJSON's formatted text, indented by `indent` spaces, its tabs as two
 * spaces (and the tab after a key's colon as one). */
static void print_json_indented(const char *text, int indent) {
    printf("%*s", indent, "");
    for (const char *p = text; *p; p++) {
        if (*p == '\t')
            fputs(p > text && p[-1] == ':' ? " " : "  ", stdout);
        else if (*p == '\n')
            printf("\n%*s", indent, "");
        else
            putchar(*p);
    }
    putchar('\n');
}

static void print_metadata_value(const char *value) {
    cJSON *json = cJSON_Parse(value);
    char *pretty = NULL;
    if (json && (cJSON_IsObject(json) || cJSON_IsArray(json)) && cJSON_GetArraySize(json) > 0)
        pretty = cJSON_Print(json);
    if (pretty) {
        putchar('\n');
        print_json_indented(pretty, 4);
        cJSON_free(pretty);
    } else {
        printf(" %s\n", value);
    }
    cJSON_Delete(json);
}

static void print_metadata(const volt_safetensors *f) {
    int n = volt_safetensors_metadata_count(f);
    printf("metadata: %d %s\n", n, n == 1 ? "key" : "keys");
    for (int i = 0; i < n; i++) {
        const char *key = volt_safetensors_metadata_key(f, i);
        printf("  %s:", key);
        print_metadata_value(volt_safetensors_metadata(f, key));
    }
}

static int cmd_inspect(int argc, char **argv) {
    if (argc == 2 && volt_cli_is_help(argv[1])) {
        volt_cli_ckpt_usage(stdout);
        return VOLT_CLI_OK;
    }
    const char *path = file_argument(argc, argv);
    if (!path) return VOLT_CLI_USAGE;
    volt_safetensors *f = open_or_report(path);
    if (!f) return VOLT_CLI_FAIL;
    printf("file: %s\n", path);
    if (is_checkpoint(f)) print_checkpoint_summary(f);
    int rc = print_tensors(f);
    if (rc == VOLT_CLI_OK) print_metadata(f);
    volt_safetensors_close(f);
    return rc;
}

/* -------------------------------------------------------------- verify */

static int cmd_verify(int argc, char **argv) {
    if (argc == 2 && volt_cli_is_help(argv[1])) {
        volt_cli_ckpt_usage(stdout);
        return VOLT_CLI_OK;
    }
    const char *path = file_argument(argc, argv);
    if (!path) return VOLT_CLI_USAGE;
    volt_safetensors *f = open_or_report(path);
    if (!f) return VOLT_CLI_FAIL;
    bool checkpoint = is_checkpoint(f);
    char summary[512];
    if (checkpoint)
        snprintf(summary, sizeof summary, "%s, epoch %s, global step %s, checksum %s",
                 volt_safetensors_metadata(f, "format"), meta_or(f, "epoch", "?"),
                 meta_or(f, "global_step", "?"), meta_or(f, "checksum", "?"));
    volt_safetensors_close(f);
    if (!checkpoint) {
        fprintf(stderr,
                "volt ckpt verify: %s: a safetensors file but not a volt checkpoint (its "
                "metadata has no \"format\": \"" CKPT_FORMAT_KNOWN "\")\n",
                path);
        return VOLT_CLI_FAIL;
    }
    if (volt_checkpoint_verify(path) != VOLT_OK) {
        fprintf(stderr, "%s\n", volt_error_message());
        volt_error_clear();
        return VOLT_CLI_FAIL;
    }
    printf("%s: OK (%s)\n", path, summary);
    return VOLT_CLI_OK;
}
