"""Shared benchmark helpers: a matmul reference, graph FLOP counts, timing, JSON output.

Every figure a benchmark reports is a ratio taken within one process (e.g. achieved GFLOP/s
divided by the fp32 matmul GFLOP/s measured just before), so it means the same on any machine.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "benchmarks", "results")
sys.path.insert(0, REPO)

from sgan_tf import precision  # noqa: E402  (after the path: benchmarks run from a checkout)


def shared_data(*parts: str) -> str | None:
    """A path under the reference data (env SGAN_SHARED_DATA, default ../shared/data), or None."""
    root = os.environ.get("SGAN_SHARED_DATA", os.path.join(os.path.dirname(REPO), "shared", "data"))
    path = os.path.join(root, *parts)
    return path if os.path.exists(path) else None


def best_time(fn: Callable[[], object], warmup: int = 2, repeats: int = 5, min_seconds: float = 1.0) -> float:
    """Best wall time of one call of `fn` (which must block until its result is ready)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds / repeats:
                break
        best = min(best, elapsed / n)
    return best


def matmul_gflops(n: int = 2048, dtype: tf.DType = tf.float32) -> float:
    """GFLOP/s of an n x n matmul in `dtype` under tf.function: the machine's reference rate
    (fp32 by default; bf16 for bf16 compute)."""
    a = tf.cast(tf.random.normal([n, n]), dtype)
    b = tf.cast(tf.random.normal([n, n]), dtype)
    f = tf.function(lambda: tf.matmul(a, b))
    return 2 * n**3 / best_time(lambda: f().numpy(), repeats=5, min_seconds=2.0) / 1e9


def _static(shape) -> list[int]:
    dims = shape.as_list() if shape.rank is not None else None
    if dims is None or any(d is None for d in dims):
        raise ValueError(f"shape {shape} is not static: FLOPs cannot be counted (trace with fixed shapes)")
    return dims


def _filter_shape(sizes: tf.Tensor) -> list[int]:
    """Static filter shape behind a Conv2DBackpropFilter's filter_sizes input."""
    value = tf.get_static_value(sizes)
    if value is not None:
        return [int(v) for v in value]
    if sizes.op.type in ("Shape", "ShapeN"):  # the shape of the filter tensor itself
        return _static(sizes.op.inputs[sizes.value_index if sizes.op.type == "ShapeN" else 0].shape)
    raise ValueError(f"cannot find the filter shape behind {sizes.name}")


def graph_flops(graph: tf.Graph) -> float:
    """Multiply-add FLOPs (x2) of the convolutions and matmuls in a traced graph.

    Conv2D and its two backprop ops each cost 2 * (output-gradient elements) * kh*kw*cin;
    matmuls 2*m*n*k. Element-wise ops, and ops whose result nothing uses, are not counted.
    Calls into nested tf.functions are refused (their bodies are not reachable through
    public APIs): trace the outermost Python function instead.
    """
    total = 0.0
    for op in graph.get_operations():
        t = op.type
        if t in ("PartitionedCall", "StatefulPartitionedCall"):
            raise ValueError(f"graph calls a nested function ({op.name}); its FLOPs would be missed")
        if not any(out.consumers() for out in op.outputs):
            continue  # pruned before it runs (e.g. the gradient w.r.t. the input image)
        if t in ("Conv2D", "DepthwiseConv2dNative"):
            out, w = _static(op.outputs[0].shape), _static(op.inputs[1].shape)
            total += 2.0 * np.prod(out) * w[0] * w[1] * w[2]
        elif t == "Conv2DBackpropInput":
            grad, w = _static(op.inputs[2].shape), _static(op.inputs[1].shape)
            total += 2.0 * np.prod(grad) * w[0] * w[1] * w[2]
        elif t == "Conv2DBackpropFilter":
            grad, w = _static(op.inputs[2].shape), _filter_shape(op.inputs[1])
            total += 2.0 * np.prod(grad) * w[0] * w[1] * w[2]
        elif t in ("MatMul", "BatchMatMulV2"):
            a, out = _static(op.inputs[0].shape), _static(op.outputs[0].shape)
            k = a[-2] if op.get_attr("transpose_a" if t == "MatMul" else "adj_x") else a[-1]
            total += 2.0 * np.prod(out) * k
    return total


def flag_file_fields(path: str, fields) -> dict:
    """`--name=value` lines of a flag file whose names are in `fields`, values as strings."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("--") and "=" in line:
                name, value = line[2:].split("=", 1)
                if name in fields:
                    out[name] = value
    return out


def write_result(name: str, result: dict) -> str:
    """Prints `result` and writes it to benchmarks/results/<name>.json with machine info."""
    result = {
        "benchmark": name,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "tensorflow": tf.__version__,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "gpus": len(tf.config.list_physical_devices("GPU")),
                    "native_bf16": precision.native_bf16()},  # bf16 figures mean little where emulated
        **result,
    }
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"{name}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print(f"wrote {path}")
    return path
