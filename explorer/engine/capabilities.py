"""What this machine can run fast: CPU bf16 support, NNPACK, fast-path dtypes per device."""

from __future__ import annotations

import threading

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


_NNPACK = None
_NNPACK_LOCK = threading.Lock()


def nnpack_available() -> bool:
    """NNPACK usable here; the first call also pins ATen's NNPACK thread pool to one thread.

    ATen creates that pool once, on the process's first NNPACK convolution, with the calling
    thread's ``torch.get_num_threads()`` threads, and a pool of two or more threads serialises
    concurrent callers. ``fast_plan`` spreads NNPACK work over its own CPU lanes (one call per
    lane, all running at once), which needs the one-thread pool: its calls run on the calling
    thread, unlocked. The results do not depend on the pool's size (measured bit-identical).
    """
    global _NNPACK
    with _NNPACK_LOCK:
        if _NNPACK is None:
            _NNPACK = _init_nnpack()
    return _NNPACK


def _init_nnpack() -> bool:
    try:
        if not torch.backends.nnpack.is_available():
            return False
    except Exception:  # noqa: BLE001 - builds without the backend module
        return False
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:      # the first NNPACK call creates the pool, sized by the thread count set now
        torch._nnpack_spatial_convolution(torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 3, 3), None, [1, 1])
    except RuntimeError:
        return False
    finally:
        torch.set_num_threads(threads)
    return True


def dtype_supported(dtype: str, device) -> bool:
    device = torch.device(device)
    if dtype == 'fp32':
        return True
    if device.type == 'cuda':
        return dtype == 'fp16' or torch.cuda.is_bf16_supported()
    if device.type != 'cpu':        # MPS and others: fp32 (the reference precision) only
        return False
    return dtype == 'bf16' and cpu_supports_bf16()
