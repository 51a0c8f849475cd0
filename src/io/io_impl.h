/* io_impl.h: declarations shared inside the io layer and with the layers above
 * it (train/ writes checkpoints, hparams.yaml and CSV logs through these), not
 * part of the public API. */
#ifndef VOLT_IO_IMPL_H
#define VOLT_IO_IMPL_H

#include <stddef.h>

#include "volt/io.h"

/* Atomic file writes (atomic_file.c). open creates a temporary file beside
 * `path` (same directory, so the final rename stays on one file system);
 * write appends to it; commit flushes it to disk, renames it over `path` and
 * fsyncs the directory; abort removes it. commit and abort free the handle
 * (commit also on failure, after removing the temporary file), so exactly one
 * of them ends every handle. `op` prefixes error messages. */
typedef struct volt_atomic_file volt_atomic_file;
volt_atomic_file *volt_atomic_file_open(const char *path, const char *op);
volt_status volt_atomic_file_write(volt_atomic_file *f, const void *data, size_t n);
volt_status volt_atomic_file_commit(volt_atomic_file *f);
void volt_atomic_file_abort(volt_atomic_file *f);

/* mkdir -p of `dir`, and of the directory that holds `path` (make_dirs.c);
 * `op` prefixes error messages. */
volt_status volt_make_dirs(const char *dir, const char *op);
volt_status volt_make_parent_dirs(const char *path, const char *op);

/* safetensors dtype names (safetensors_dtype.c): the volt dtype of "F32",
 * "BOOL", ...; false for an unknown name. */
bool volt_safetensors_dtype_parse(const char *name, volt_dtype *dtype);

#endif
