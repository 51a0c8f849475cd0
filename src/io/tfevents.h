/* tfevents.h: TensorBoard event files (tfevents.c), inside the library: the
 * TFRecord framing with masked CRC-32C, and a writer of Event records (the
 * file_version record, scalars, the HPARAMS plugin's session summaries) that
 * buffers in memory and appends to
 * <dir>/events.out.tfevents.<unix time>.<hostname>.<pid>.<n> on flush.
 * The train layer's TensorBoard logger is its user; not part of the public
 * API. */
#ifndef VOLT_IO_TFEVENTS_H
#define VOLT_IO_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "volt/core.h"

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of n bytes, chained:
 * start with crc = 0; volt_crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t volt_crc32c(uint32_t crc, const void *data, size_t n);
/* TFRecord's masking of a CRC: ((crc >> 15) | (crc << 17)) + 0xa282ead8. */
uint32_t volt_crc32c_mask(uint32_t crc);

/* Bytes a TFRecord framing adds around n bytes of data. */
#define VOLT_TFRECORD_OVERHEAD 16
/* Frames n bytes into out (n + VOLT_TFRECORD_OVERHEAD bytes): the length as
 * a little-endian uint64, the masked CRC-32C of those 8 bytes, the data, the
 * masked CRC-32C of the data (CRCs little-endian uint32). */
void volt_tfrecord_frame(uint8_t *out, const void *data, size_t n);

/* One hyperparameter of a session_start_info summary. */
typedef enum { VOLT_TFEVENTS_NUMBER, VOLT_TFEVENTS_STRING, VOLT_TFEVENTS_BOOL } volt_tfevents_kind;
typedef struct {
    const char *name;
    volt_tfevents_kind kind;
    double number;      /* VOLT_TFEVENTS_NUMBER */
    const char *string; /* VOLT_TFEVENTS_STRING */
    bool boolean;       /* VOLT_TFEVENTS_BOOL */
} volt_tfevents_hparam;

/* A writer for one event file in `dir`. Nothing touches the disk before the
 * first flush, which makes `dir` (mkdir -p) and creates the file (the first
 * free <n> from 0, never overwriting one); the file_version event
 * "brain.Event:2" is its first record. NULL + error when out of memory. */
typedef struct volt_tfevents volt_tfevents;
volt_tfevents *volt_tfevents_new(const char *dir);

/* Buffers one Event at `step` (wall time now) holding a Summary with one
 * simple_value (float32) per (tags[i], values[i]). */
volt_status volt_tfevents_add_scalars(volt_tfevents *w, int64_t step, int64_t n,
                                      const char *const *tags, const double *values);
/* Buffers the HPARAMS plugin's "_hparams_/session_start_info" summary
 * (step 0): the n hyperparameter values and the start time (now). */
volt_status volt_tfevents_add_session_start(volt_tfevents *w, const volt_tfevents_hparam *hp,
                                            int n);
/* Buffers "_hparams_/session_end_info": status SUCCESS or FAILURE, end time now. */
volt_status volt_tfevents_add_session_end(volt_tfevents *w, bool success);

/* Appends what is buffered to the file (creating it on the first call) and
 * hands it to the operating system. Errors name the file. */
volt_status volt_tfevents_flush(volt_tfevents *w);
/* The file's path; NULL before the first successful flush. */
const char *volt_tfevents_path(const volt_tfevents *w);
/* Flushes, fsyncs and closes the file (if it was created) and frees w (also
 * on failure); the first error is returned. */
volt_status volt_tfevents_close(volt_tfevents *w);
/* Frees w without writing what is buffered (closes the file if open). */
void volt_tfevents_free(volt_tfevents *w);

#endif
