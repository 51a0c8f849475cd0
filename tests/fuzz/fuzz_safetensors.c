/* fuzz_safetensors.c: libFuzzer target for the safetensors reader (volt/io.h).
 * Each input becomes the contents of a file (an in-memory memfd, opened
 * through /proc/self/fd, since volt_safetensors_open takes a path); the
 * target opens it, lists and reads every tensor, reads the metadata and the
 * data section's CRC-32, and closes it. Any crash, sanitizer report or leak
 * is a finding; so is a file the reader accepts whose CRC-32 differs from
 * zlib's over the bytes after the header (accepted tensors tile the data
 * section exactly, so the two must agree). Built and run by scripts/fuzz.sh
 * (make fuzz); seeds in tests/fuzz/corpus/safetensors/ (tests/fuzz/make_corpus.py). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include <volt/io.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The memfd every input is written to, and its /proc path. */
static int input_fd = -1;
static char input_path[64];

static const char *write_input(const uint8_t *data, size_t size) {
    if (input_fd < 0) {
        input_fd = memfd_create("fuzz_safetensors", MFD_CLOEXEC);
        if (input_fd < 0) {
            perror("fuzz_safetensors: memfd_create");
            abort();
        }
        snprintf(input_path, sizeof input_path, "/proc/self/fd/%d", input_fd);
    }
    if (ftruncate(input_fd, 0) != 0) abort();
    for (size_t done = 0; done < size;) {
        ssize_t w = pwrite(input_fd, data + done, size - done, (off_t)done);
        if (w <= 0) abort();
        done += (size_t)w;
    }
    return input_path;
}

/* Every byte read, summed: the reads cannot be optimised away. */
static volatile unsigned byte_sum;

/* Reads every tensor and touches its bytes; checks info agrees with it. */
static void read_tensors(volt_safetensors *f) {
    int n = volt_safetensors_count(f);
    for (int i = 0; i < n; i++) {
        const char *name = volt_safetensors_name(f, i);
        if (!name) abort();
        volt_dtype dtype;
        int ndim = -1;
        int64_t shape[VOLT_MAX_DIMS];
        if (volt_safetensors_info(f, name, &dtype, &ndim, shape) != VOLT_OK) abort();
        volt_tensor *t = volt_safetensors_get(f, name);
        if (!t) abort(); /* a memfd does not shrink behind our back */
        if (t->dtype != dtype || t->ndim != ndim) abort();
        const unsigned char *bytes = volt_tensor_data(t);
        size_t nbytes = (size_t)volt_tensor_numel(t) * volt_dtype_size(t->dtype);
        for (size_t k = 0; k < nbytes; k++) byte_sum += bytes[k];
    }
    if (volt_safetensors_name(f, n) || volt_safetensors_name(f, -1)) abort();
}

static void read_metadata(const volt_safetensors *f) {
    int n = volt_safetensors_metadata_count(f);
    for (int i = 0; i < n; i++) {
        const char *key = volt_safetensors_metadata_key(f, i);
        if (!key || !volt_safetensors_metadata(f, key)) abort();
    }
}

/* The CRC-32 the reader computes equals zlib's over the input after the
 * header (the reader accepted the file, so the length prefix is sound). */
static void check_crc(volt_safetensors *f, const uint8_t *data, size_t size) {
    uint32_t crc = 0;
    if (volt_safetensors_crc32(f, &crc) != VOLT_OK) abort();
    uint64_t header = 0;
    for (int i = 0; i < 8; i++) header |= (uint64_t)data[i] << (8 * i);
    const uint8_t *body = data + 8 + header;
    uLong want = crc32(crc32(0L, Z_NULL, 0), body, (uInt)(size - 8 - header));
    if (crc != (uint32_t)want) {
        fprintf(stderr, "fuzz_safetensors: crc32 %08x, zlib says %08lx\n", crc, want);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = write_input(data, size);
    volt_scope_begin();
    volt_safetensors *f = volt_safetensors_open(path);
    if (f) {
        read_tensors(f);
        read_metadata(f);
        check_crc(f, data, size);
        volt_safetensors_close(f);
    } else if (volt_error_status() == VOLT_OK) {
        fprintf(stderr, "fuzz_safetensors: open failed without an error\n");
        abort();
    }
    volt_scope_end();
    volt_error_clear();
    return 0;
}
