"""Compute precision of the networks: float32, or Keras' mixed_bfloat16 (bf16 compute with
float32 weights, for CPUs with AVX512_BF16/AMX and for GPUs).

Models are built inside `policy(...)`; their layers keep the policy they were built with.
Every model pins what must stay float32 whatever the policy: its own inputs (so a residual
model adds its correction to the exact input), the last layer before an output (images,
logits, probabilities) and the losses. Weights are float32 in every case, so a checkpoint
trained in one precision loads in the other.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

PRECISIONS = ("float32", "mixed_bfloat16")
OUTPUT_DTYPE = "float32"  # dtype of the layers that produce a model's output
INFERENCE_PRECISIONS = ("auto", "float32", "bfloat16")
# Enhancement, segmentation and evaluation compute in bf16 where it is native: on CT the shipped
# G1 -> G2 path then stays within 0.5 HU (mean) and 5 HU (99.9th percentile) of fp32 inside the
# window (benchmarks/ct_inference_precision.py; tests/shipped_models_test.py) at ~1.8x the speed.
INFERENCE_DEFAULT = "auto"
# Exports default to fp32: the machine that serves them may lack native bf16 (emulated, slower).
SERVING_DEFAULT = "float32"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of native bf16 arithmetic


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Layers built inside compute in `name` (one of PRECISIONS)."""
    import keras  # here, not at import: the binaries' --help must not wait for Keras

    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@functools.cache
def native_bf16() -> bool:
    """Whether bf16 runs natively here: a GPU, or a CPU with AVX512_BF16 or AMX (Linux). On other
    CPUs oneDNN emulates bf16, slower than fp32."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return any(flag in flags.split() for flag in BF16_CPU_FLAGS)


def inference_dtype(choice: str = INFERENCE_DEFAULT) -> str:
    """The compute dtype of inference: 'auto' is bfloat16 where it runs natively, else float32."""
    if choice not in INFERENCE_PRECISIONS:
        raise ValueError(f"unknown inference precision {choice!r}; use one of {', '.join(INFERENCE_PRECISIONS)}")
    if choice == "auto":
        return "bfloat16" if native_bf16() else "float32"
    return choice
