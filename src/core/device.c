/* device.c: device values and the check that a device exists in this build. */
#include "volt/core.h"

bool volt_device_equal(volt_device a, volt_device b) {
    return a.type == b.type && (a.type == VOLT_CPU || a.index == b.index);
}

volt_status volt_device_check(volt_device device) {
    switch (device.type) {
    case VOLT_CPU: return VOLT_OK;
    case VOLT_CUDA:
        return volt_error_set(VOLT_ERR_DEVICE,
                              "device cuda:%d: this build of volt has no CUDA backend",
                              device.index);
    }
    return volt_error_set(VOLT_ERR_DEVICE, "device type %d is not a volt device", (int)device.type);
}
