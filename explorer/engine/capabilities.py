"""What this machine can run fast: CPU bf16 support, NNPACK, fast-path dtypes per device."""

from __future__ import annotations

import torch

DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def cpu_supports_bf16() -> bool:
    """AVX512-BF16 / AMX present (bf16 convs then beat fp32 through oneDNN)?"""
    try:
        with open('/proc/cpuinfo') as f:
            flags = f.read()
    except OSError:
        return False
    return ('avx512_bf16' in flags) or ('amx_bf16' in flags)


def nnpack_available() -> bool:
    try:
        return bool(torch.backends.nnpack.is_available())
    except Exception:  # noqa: BLE001 - builds without the backend module
        return False


def dtype_supported(dtype: str, device) -> bool:
    device = torch.device(device)
    if dtype == 'fp32':
        return True
    if device.type == 'cuda':
        return dtype == 'fp16' or torch.cuda.is_bf16_supported()
    if device.type != 'cpu':        # MPS and others: fp32 (the reference precision) only
        return False
    return dtype == 'bf16' and cpu_supports_bf16()
