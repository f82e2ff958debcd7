"""What the machine offers that changes how a run should be set up (no TensorFlow here:
`demo.py --help` must not load it)."""

from __future__ import annotations


def cpu_has_bfloat16() -> bool:
    """Whether the CPU has native bfloat16 instructions (AVX512-BF16 or AMX), on Linux: where
    it has none, oneDNN's bfloat16 rewrite (`--use_amp` on a CPU) leaves the model in float32."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))
