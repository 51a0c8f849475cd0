/* volt/io.h: the io layer (DESIGN.md §1) — safetensors files, the format of
 * volt's checkpoints and of the parity vectors (DESIGN.md §4, §8).
 *
 * A safetensors file is an 8-byte little-endian header length N, N bytes of
 * JSON header (padded with spaces to a multiple of 8), then the tensors'
 * bytes, row-major and packed:
 *     {"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
 *      "__metadata__": {"epoch": "3"}}
 * dtypes: F32 F64 BF16 F16 I64 I32 U8 BOOL (volt's eight). Files written here
 * open with Python's `safetensors` and torch; files written there open here.
 *
 * Errors: each function records the sticky error (volt/core.h) and returns
 * the status (or NULL): VOLT_ERR_IO for a failed system call (the message
 * names the file and the reason), VOLT_ERR_FORMAT for a file whose contents
 * are not valid safetensors (it names the file and what is wrong; a corrupt
 * file is always refused, never a crash), VOLT_ERR_INVALID_ARGUMENT for bad
 * arguments. */
#ifndef VOLT_IO_H
#define VOLT_IO_H

#include "volt/core.h"
#include "volt/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes n tensors (any device, any dtype, contiguous or not: a view is
 * written as its contiguous copy, a GPU tensor from a CPU copy) under the given names, which must
 * be distinct, non-empty and not "__metadata__". metadata_json is NULL or a JSON object whose
 * values are all strings ({"epoch": "3"}); it becomes "__metadata__". The write is atomic: a
 * temporary file in the same directory, fsync, rename over `path`, fsync of the directory. On any
 * failure (bad arguments, a NULL tensor, an unwritable directory, a full disk) the previous file at
 * `path` is left as it was and no temporary file remains. */
volt_status volt_safetensors_save(const char *path, int n, const char *const *names,
                                  volt_tensor *const *tensors, const char *metadata_json);

/* An open safetensors file: its header, validated, and an open descriptor to
 * read tensors from. Not thread-safe: one thread at a time per handle. */
typedef struct volt_safetensors volt_safetensors;

/* Opens and validates `path`: header length within the file, JSON an object,
 * every entry with a known dtype, a shape of at most 8 non-negative sizes,
 * offsets that lie in the data section and tile it exactly (in order, no
 * gaps, no overlaps, nothing after the last tensor, as the reference reader
 * demands), sizes that match the shapes, an optional string-to-string
 * "__metadata__". Returns NULL with VOLT_ERR_IO or VOLT_ERR_FORMAT. Free with
 * volt_safetensors_close. */
volt_safetensors *volt_safetensors_open(const char *path);
void volt_safetensors_close(volt_safetensors *f);

/* Number of tensors, and the name of the i-th (0 <= i < count), in the order
 * of the header; NULL for a bad i. */
int volt_safetensors_count(const volt_safetensors *f);
const char *volt_safetensors_name(const volt_safetensors *f, int i);
/* Dtype and shape of tensor `name` without reading it (shape: room for
 * VOLT_MAX_DIMS). VOLT_ERR_INVALID_ARGUMENT when there is no such tensor. */
volt_status volt_safetensors_info(const volt_safetensors *f, const char *name, volt_dtype *dtype,
                                  int *ndim, int64_t *shape);
/* Reads tensor `name` into a new contiguous CPU tensor owned by the current
 * scope (see volt/core.h). NULL with an error when there is no such tensor
 * (VOLT_ERR_INVALID_ARGUMENT) or the read fails (VOLT_ERR_IO, e.g. the file
 * was truncated since it was opened). */
volt_tensor *volt_safetensors_get(volt_safetensors *f, const char *name);

/* The "__metadata__" entries: their count, the i-th key (file order), and the
 * value of `key` (NULL when absent, without an error). Strings live until
 * volt_safetensors_close. */
int volt_safetensors_metadata_count(const volt_safetensors *f);
const char *volt_safetensors_metadata_key(const volt_safetensors *f, int i);
const char *volt_safetensors_metadata(const volt_safetensors *f, const char *key);

/* The CRC-32 (zlib's, as in gzip) of the data section — every tensor's
 * bytes in file order — read from the file now: what checkpoints store as
 * their checksum. VOLT_ERR_IO when the file cannot be read whole. */
volt_status volt_safetensors_crc32(volt_safetensors *f, uint32_t *crc);
/* The path the file was opened with. */
const char *volt_safetensors_path(const volt_safetensors *f);

/* The safetensors name of a dtype ("F32", "BF16", "BOOL", ...), NULL if invalid. */
const char *volt_safetensors_dtype_name(volt_dtype dtype);

/* ------------------------------------------------------- module state */

/* Writes a state dict (volt_module_state_dict) as a safetensors file, tensors
 * named by their dotted names; metadata_json as for volt_safetensors_save. */
volt_status volt_state_dict_save(const char *path, const volt_state_dict *sd,
                                 const char *metadata_json);
/* Reads every tensor of a safetensors file into a new state dict that owns
 * its tensors (free with volt_state_dict_free). NULL with an error. */
volt_state_dict *volt_state_dict_load(const char *path);
/* volt_module_state_dict + volt_state_dict_save / volt_state_dict_load +
 * volt_module_load_state_dict, in one call. */
volt_status volt_module_save(volt_module *m, const char *path);
volt_status volt_module_load(volt_module *m, const char *path, bool strict,
                             volt_load_report *report);

#ifdef __cplusplus
}
#endif

#endif /* VOLT_IO_H */
