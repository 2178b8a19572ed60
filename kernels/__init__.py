"""GPU kernels with plain-torch reference twins.

Every public op takes ``impl='auto'|'ref'|<fast>``. ``auto`` picks a fast path only
where it is available (CUDA tensor, Triton importable) and otherwise the reference.
Nothing is compiled at import time. ``EXPLORER_KERNELS=ref`` forces the reference
everywhere (useful for debugging and for parity checks).
"""

from kernels._dispatch import forced_ref, triton_available
from kernels._params import activation_funcs
from kernels.bias_act import bias_act
from kernels.conv2d_resample import conv2d_resample
from kernels.modulated_conv2d import modulated_conv2d
from kernels.upfirdn2d import downsample2d, filter2d, setup_filter, upfirdn2d, upsample2d

__all__ = [
    'forced_ref', 'triton_available',
    'bias_act', 'activation_funcs',
    'setup_filter', 'upfirdn2d', 'upsample2d', 'downsample2d', 'filter2d',
    'conv2d_resample', 'modulated_conv2d',
]
