/* text_impl.h: the parts of the character-level text datamodule
 * (text_datamodule.c) that text_chars.c implements — reading a corpus from
 * files and directories, and the dataset of (x, y) windows over its tokens. */
#ifndef VOLT_DATA_TEXT_IMPL_H
#define VOLT_DATA_TEXT_IMPL_H

#include "data/data_impl.h"

/* The bytes of `path` — a file, a directory (its regular files sorted by
 * name; hidden files, *.dat files and symbolic links skipped), or several
 * of either separated by ':' — concatenated into *text (malloc'd; free it),
 * *n bytes. VOLT_ERR_IO naming the path that cannot be read, or a directory
 * without text files; VOLT_ERR_FORMAT for no text at all. */
volt_status volt_text_read(const char *path, uint8_t **text, int64_t *n);

/* A dataset over tokens[0..n) (borrowed: it must outlive the dataset): item
 * i is the window starting at i * stride, "x" i64 [block] = tokens[s, s +
 * block) and "y" i64 [block] = tokens[s + 1, s + block + 1); (n - block - 1)
 * / stride + 1 items (n >= block + 1, block >= 1, stride >= 1: the caller
 * checks). */
volt_dataset *volt_text_windows_new(const uint8_t *tokens, int64_t n, int64_t block,
                                    int64_t stride);

#endif
