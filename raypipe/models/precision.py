"""`compute_dtype`: the precision the encoders *compute* in (`float32 | bfloat16 | float16 | auto`).

Not `precision`: in sentence-transformers' `encode` that name means output quantization (int8, binary, ...), and
it keeps that meaning here. `compute_dtype` runs the forward pass under `torch.autocast` (matmuls and attention in
the low-precision dtype, reductions and the outputs in float32); the weights stay float32, so one model object
serves every setting. Outputs are always float32.

- float32: exact; the default wherever a result must equal sentence-transformers'.
- bfloat16: ~2x faster on CPUs with AVX512-BF16/AMX and on GPUs; about 3 significant digits per value.
- float16: GPUs only (CPU autocast in float16 was ~4x *slower* than float32 on the project's machine).
- auto: bfloat16 on a GPU that supports it (else float16), bfloat16 on a CPU with native bf16 instructions,
  else float32.
"""

from __future__ import annotations

import contextlib
import functools

import torch

__all__ = ["COMPUTE_DTYPES", "resolve_compute_dtype", "compute_context", "cpu_has_native_bf16",
           "check_compute_dtype"]

COMPUTE_DTYPES = ("float32", "bfloat16", "float16", "auto")
_TORCH = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when this CPU has bf16 instructions (AVX512-BF16 or AMX), where bf16 autocast pays off."""
    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(torch.cpu, probe, None)
        try:
            if fn is not None and fn():
                return True
        except RuntimeError:  # a torch build without the probe's backend
            continue
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def check_compute_dtype(value, param: str = "compute_dtype") -> str:
    """`value` if it is one of COMPUTE_DTYPES, else a ValueError naming the parameter and the fix."""
    if value not in COMPUTE_DTYPES:
        raise ValueError(f"{param}={value!r} is not a compute dtype; allowed: {', '.join(COMPUTE_DTYPES)}. Fix: "
                         f"pass 'float32' (exact), 'bfloat16' / 'float16' (faster), or 'auto'. (Output "
                         f"quantization is `precision`, e.g. precision='int8'.)")
    return value


def resolve_compute_dtype(value: str, device: torch.device | str, param: str = "compute_dtype") -> torch.dtype:
    """The torch dtype `value` means on `device` ('auto' resolved there). float16 on a CPU is an error."""
    check_compute_dtype(value, param)
    kind = torch.device(device).type
    if value == "auto":
        if kind == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if kind == "cpu" and cpu_has_native_bf16() else torch.float32
    if value == "float16" and kind == "cpu":
        raise ValueError(f"{param}='float16' is not supported on the CPU (autocast float16 is slower than "
                         "float32 there). Fix: use 'bfloat16' (or 'auto') on a CPU, 'float16' on a GPU.")
    return _TORCH[value]


def compute_context(value: str, device: torch.device | str, param: str = "compute_dtype"):
    """A context manager running the forward pass in `value`'s dtype on `device` (no-op for float32)."""
    dtype = resolve_compute_dtype(value, device, param)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)
