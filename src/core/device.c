/* device.c: device values, their names, and the check that a device exists
 * in this build and on this machine (CUDA: core/cuda/device.c). */
#include <stdio.h>

#include "core/core_impl.h"

bool volt_device_equal(volt_device a, volt_device b) {
    return a.type == b.type && (a.type == VOLT_CPU || a.index == b.index);
}

volt_status volt_device_check(volt_device device) {
    switch (device.type) {
    case VOLT_CPU: return VOLT_OK;
    case VOLT_CUDA: return volt_cuda_check_device(NULL, device.index);
    }
    return volt_error_set(VOLT_ERR_DEVICE, "device type %d is not a volt device", (int)device.type);
}

char *volt_device_str(volt_device device, char *buf, size_t size) {
    if (!buf || size == 0) return buf;
    if (device.type == VOLT_CPU)
        snprintf(buf, size, "cpu");
    else if (device.type == VOLT_CUDA)
        snprintf(buf, size, "cuda:%d", device.index);
    else
        snprintf(buf, size, "device%d:%d", (int)device.type, device.index);
    return buf;
}
