/* memcpy.c (CUDA): copies between host memory and CUDA devices and between
 * devices, for volt_to_device, element access and copy_. Host-to-device
 * from pinned memory is queued on the destination's stream and returns at
 * once; the others return when the data is in place. */
#include "core/cuda/cuda_impl.h"

static volt_status host_to_device(void *dst, int device, const void *src, size_t n, void *pinned) {
    if (volt_cuda_set_device(device)) return volt_error_status();
    if (!pinned)
        return VOLT_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice),
                               "copying to the device");
    cudaStream_t stream = volt_cuda_stream(device);
    if (VOLT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream),
                        "copying pinned memory to the device"))
        return volt_error_status();
    return volt_cuda_pinned_record(pinned, device, stream);
}

static volt_status device_to_host(void *dst, int device, const void *src, size_t n) {
    if (volt_cuda_set_device(device)) return volt_error_status();
    /* On the legacy default stream: waits for the kernels queued before. */
    return VOLT_CUDA_CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost),
                           "copying from the device (an earlier kernel may have failed)");
}

static volt_status device_to_device(void *dst, int dst_device, const void *src, int src_device,
                                    size_t n) {
    if (volt_cuda_set_device(dst_device)) return volt_error_status();
    if (dst_device == src_device)
        return VOLT_CUDA_CHECK(
            cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, volt_cuda_stream(dst_device)),
            "copying within the device");
    /* Ordered after the work queued on both devices. */
    return VOLT_CUDA_CHECK(cudaMemcpyPeer(dst, dst_device, src, src_device, n),
                           "copying between devices");
}

volt_status volt_cuda_memcpy(void *dst, volt_device dst_dev, const void *src, volt_device src_dev,
                             size_t n, void *pinned) {
    if (n == 0) return VOLT_OK;
    bool from_gpu = src_dev.type == VOLT_CUDA, to_gpu = dst_dev.type == VOLT_CUDA;
    if (to_gpu && from_gpu) return device_to_device(dst, dst_dev.index, src, src_dev.index, n);
    if (to_gpu) return host_to_device(dst, dst_dev.index, src, n, pinned);
    if (from_gpu) return device_to_host(dst, src_dev.index, src, n);
    return volt_error_set(VOLT_ERR_INTERNAL, "cuda_memcpy: a copy between two host buffers");
}

volt_status volt_cuda_memcpy_2d(void *dst, size_t dpitch, const void *src, size_t spitch,
                                size_t width, size_t rows, int device) {
    if (width == 0 || rows == 0) return VOLT_OK;
    if (volt_cuda_set_device(device)) return volt_error_status();
    return VOLT_CUDA_CHECK(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, rows,
                                             cudaMemcpyDeviceToDevice, volt_cuda_stream(device)),
                           "copying rows within the device");
}
