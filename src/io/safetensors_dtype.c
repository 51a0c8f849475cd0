/* safetensors_dtype.c: the dtype names of the safetensors format ("F32",
 * "BF16", "BOOL", ...) and volt's dtypes they stand for. */
#include <string.h>

#include "io/io_impl.h"

static const char *const names[VOLT_DTYPE_COUNT] = {
    [VOLT_F32] = "F32", [VOLT_F64] = "F64", [VOLT_BF16] = "BF16", [VOLT_F16] = "F16",
    [VOLT_I64] = "I64", [VOLT_I32] = "I32", [VOLT_U8] = "U8",     [VOLT_BOOL] = "BOOL",
};

const char *volt_safetensors_dtype_name(volt_dtype dtype) {
    return volt_dtype_is_valid(dtype) ? names[dtype] : NULL;
}

bool volt_safetensors_dtype_parse(const char *name, volt_dtype *dtype) {
    for (int i = 0; name && i < VOLT_DTYPE_COUNT; i++) {
        if (strcmp(name, names[i]) == 0) {
            *dtype = (volt_dtype)i;
            return true;
        }
    }
    return false;
}
