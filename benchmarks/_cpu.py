"""The CPU a benchmark ran on, and the AVX2 case on a CPU that has more: every figure names its
CPU class, and a machine with AVX-512 or bf16 can also measure what an AVX2-only one would do."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# oneDNN and MKL read these when they load: PyTorch's kernels then use AVX2 and FMA at most, and
# the project treats the CPU as one without native bf16 (modeling/precision.py). ONNX Runtime's
# kernels (MLAS) choose their instruction set from the CPU and have no such cap.
AVX2_CAP = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "avx_vnni")


def apply_isa(isa: str) -> None:
    """For isa "avx2", run this script again with the caps set from the start (once)."""
    if isa == "avx2" and os.environ.get("ONEDNN_MAX_CPU_ISA") != AVX2_CAP["ONEDNN_MAX_CPU_ISA"]:
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, **AVX2_CAP})


def describe(isa: str) -> str:
    """One line: the CPU's model, cores, relevant flags, and which case is measured."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    lines = info.splitlines()
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("flags")), set())
    have = " ".join(f for f in FLAGS if f in flags) or "none of " + " ".join(FLAGS)
    case = ("AVX2 case: oneDNN and MKL capped at AVX2, no native bf16; ONNX Runtime not capped (it cannot be)"
            if isa == "avx2" else "native: every library uses what the CPU has")
    return f"CPU: {model}, {os.cpu_count()} cores; flags: {have}; measured: {case}"
