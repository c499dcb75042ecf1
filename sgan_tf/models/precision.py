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
from collections.abc import Iterator

import keras

PRECISIONS = ("float32", "mixed_bfloat16")
OUTPUT_DTYPE = "float32"  # dtype of the layers that produce a model's output


@contextlib.contextmanager
def policy(name: str) -> Iterator[None]:
    """Layers built inside compute in `name` (one of PRECISIONS)."""
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
