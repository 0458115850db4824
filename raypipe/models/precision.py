"""`compute_dtype`: the precision the encoders *compute* in (`float32 | bfloat16 | float16 | auto`).

Not `precision`: in sentence-transformers' `encode` that name means output quantization (int8, binary, ...), and
it keeps that meaning here. `compute_dtype` runs the forward pass under `torch.autocast` (matmuls and attention in
the low-precision dtype, reductions and the outputs in float32); the weights stay float32, so one model object
serves every setting. Outputs are always float32.

- float32: exact; the default wherever a result must equal sentence-transformers'.
- bfloat16: ~2x faster on CPUs with AMX and on GPUs; about 3 significant digits per value. AVX512-BF16 alone is
  not enough: on one such host (no AMX) MiniLM encoded 2x faster in bf16, on another 0.7x as fast as in float32.
- float16: GPUs only (CPU autocast in float16 was ~4x *slower* than float32 on the project's machine).
- auto: bfloat16 on a GPU that supports it (else float16); on a CPU, bfloat16 where it is faster there (AMX, or
  AVX512-BF16 where a one-off probe of a bf16-autocast matmul beats float32 by 20%), else float32.
"""

from __future__ import annotations

import contextlib
import functools

import torch

__all__ = ["COMPUTE_DTYPES", "resolve_compute_dtype", "compute_context", "cpu_bf16_pays_off",
           "check_compute_dtype"]

COMPUTE_DTYPES = ("float32", "bfloat16", "float16", "auto")
_TORCH = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _cpu_flag(probe: str, flag: str) -> bool:
    fn = getattr(torch.cpu, probe, None)
    try:
        if fn is not None and fn():
            return True
    except RuntimeError:  # a torch build without the probe's backend
        pass
    try:
        with open("/proc/cpuinfo") as f:
            return f" {flag}" in f.read()
    except OSError:
        return False


def _bf16_autocast_speedup(reps: int = 5) -> float:
    """float32 time / bf16-autocast time of a MiniLM-sized linear layer ((512, 384) x (384, 1536)), best of reps.
    Cost: ~0.1 s once per process."""
    import time

    x, layer = torch.randn(512, 384), torch.nn.Linear(384, 1536)

    def best(ctx) -> float:
        times = []
        with torch.no_grad(), ctx:
            layer(x)  # warm-up: kernel selection, weight cast
            for _ in range(reps):
                t = time.perf_counter()
                layer(x)
                times.append(time.perf_counter() - t)
        return min(times)

    return best(contextlib.nullcontext()) / best(torch.autocast("cpu", dtype=torch.bfloat16))


@functools.lru_cache(maxsize=1)
def cpu_bf16_pays_off() -> bool:
    """True when bf16 autocast pays off on this CPU: AMX, or AVX512-BF16 and a probe finds it >= 1.2x float32."""
    if _cpu_flag("_is_amx_tile_supported", "amx_bf16"):
        return True
    return _cpu_flag("_is_avx512_bf16_supported", "avx512_bf16") and _bf16_autocast_speedup() >= 1.2


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
        return torch.bfloat16 if kind == "cpu" and cpu_bf16_pays_off() else torch.float32
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
