"""Mixed precision: run matrix products in bfloat16 where the hardware does so natively.

On a CPU with AVX512-BF16 or AMX (recent Xeon and EPYC), autocast to bfloat16 makes a training
step about 1.7x and a forward pass about 2.2x faster than float32 (`benchmarks/precision.py` on
the 2-core EPYC this project is developed on, which also shows the served accuracy unchanged).
Weights and optimizer state stay float32; only the autocast region changes.
"""

from __future__ import annotations

import contextlib
import os

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


# oneDNN instruction-set caps (ONEDNN_MAX_CPU_ISA) under which it still computes bf16 natively.
ONEDNN_ISAS_WITH_BF16 = ("ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16",
                         "AVX10_1_512", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX2_VNNI_2")


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bfloat16 products in hardware (emulated bf16 is slower than fp32)
    and oneDNN is not capped below that (ONEDNN_MAX_CPU_ISA=AVX2 makes such a CPU an AVX2 one)."""
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if cap and cap not in ONEDNN_ISAS_WITH_BF16:
        return False
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve(precision: str, device: torch.device | str) -> str:
    """The precision `precision` means on `device`: "auto" picks bf16 where it is native, else fp32
    (fp16 on a CUDA device without bf16)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    device = torch.device(device)
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        if device.type == "cpu" and cpu_has_native_bf16():
            return "bf16"
        return "fp32"
    if precision == "fp16" and device.type == "cpu":
        raise ValueError("fp16 autocast is for CUDA devices; use bf16 or fp32 on a CPU")
    return precision


def autocast(device: torch.device | str, precision: str):
    """A context that runs the forward pass at `precision` (already resolved) on `device`: bf16 or
    fp16 autocast; anything else (fp32, an int8 model's own kernels) runs as it is."""
    device = torch.device(device)
    if precision not in ("bf16", "fp16") or device.type not in ("cpu", "cuda"):
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)
