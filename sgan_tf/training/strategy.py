"""tf.distribute strategies by name: default, mirrored, multi_worker."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from sgan_tf.errors import UserError


def make_strategy(name: str, num_cpu_devices: int = 0) -> tf.distribute.Strategy:
    """Creates the strategy; call before any other TF op (logical devices are fixed then).

    mirrored: all local GPUs, or with `num_cpu_devices` > 0 that many logical CPU devices
    (for testing data parallelism on a CPU machine). multi_worker: MultiWorkerMirroredStrategy
    configured from the TF_CONFIG environment variable.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if num_cpu_devices > 0:
            cpu = tf.config.list_physical_devices("CPU")[0]
            try:
                tf.config.set_logical_device_configuration(
                    cpu, [tf.config.LogicalDeviceConfiguration()] * num_cpu_devices
                )
            except RuntimeError as e:
                raise UserError(f"cannot create {num_cpu_devices} logical CPU devices: TF is already initialised") from e
            devices = [f"/cpu:{i}" for i in range(num_cpu_devices)]
            return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise UserError("--strategy=multi_worker needs the TF_CONFIG environment variable (see BUILD.md)")
        try:
            tf_config = json.loads(os.environ["TF_CONFIG"])
        except json.JSONDecodeError as e:
            raise UserError(f"TF_CONFIG is not valid JSON: {e}") from e
        if not isinstance(tf_config, dict) or not {"cluster", "task"} <= tf_config.keys():
            raise UserError('TF_CONFIG needs "cluster" and "task" entries (see BUILD.md)')
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"unknown strategy {name!r}; expected default, mirrored or multi_worker")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints and summaries."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()


def worker_id(strategy: tf.distribute.Strategy) -> str:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "0"
    return f"{resolver.task_type}_{resolver.task_id}"
