"""SavedModel export of the enhancer (G1 -> zoom -> G2) and of the HNN segmenter for TF Serving.

Layout (TF Serving's: one folder per model, numbered versions; export_main writes it):

    DIR/enhancer/<version>/   saved_model.pb, variables/, assets.extra/export.json
    DIR/hnn/<version>/        the same
    DIR/models.config         TF Serving's --model_config_file (`write_models_config`)

assets.extra/export.json records the source model_dirs and checkpoints, the window, the
threshold and the signatures (and, for shipped models, their name and version); TF Serving
ignores the files there.

**Enhancer**, signature `serving_default`: the in-process `Enhancer` (sgan_tf/enhance.py) of
one variant on a batch, in TF ops.

| name | dtype | shape | scale |
|------|-------|-------|-------|
| in `hu` | float32 | [N, H, W, 1] | HU, any H, W |
| in `zoom` | float32 | [] | >= 1, one for the batch |
| out `denoised`, `enhanced` | float32 | [N, h, w, 1] | network [0, 1] |
| out `composite` | float32 | [N, h, w, 3] | network: (OG, denoised, enhanced) |
| out `denoised_hu`, `enhanced_hu` | float32 | [N, h, w, 1] | HU, within the window |
| out `composite_hu` | float32 | [N, h, w, 3] | HU; the OG channel is the zoomed input, unclipped |

h = max(round(H * zoom), 1), computed in float64 from the float32 zoom and rounding halves to
even as Python's round does (w likewise). The zoom is one scalar because the outputs of a
batch are one tensor, so they share one size; send ROIs of different zooms in separate requests.
The window (HU -> network scale, sgan_tf/data/ct.py) is fixed at export, default
`NETWORK_WINDOW`. The zoom and the network scale are the TF twins of the in-process rules
(sgan_tf/scale.py: `zoom_cubic_tf`, `zoomed_size_tf`, `to_unit_tf`, `output_hu_tf`). The export runs
untiled: memory grows with the zoomed size (G2 on a 1024 x 1024 image needs about 1.4 GB,
benchmarks/enhance_rate.py), so it is meant for lesion ROIs, and a request whose zoomed side
would exceed `max_side` (fixed at export, default 1024), or whose zoomed batch would hold more
than `max_batch_pixels` pixels (N x h x w, default 4 x 1024 x 1024), fails with a clear
message before any network runs.

**HNN**, signature `serving_default`: in `composite` float32 [N, H, W, 3] on the network scale,
any H, W -> out `probability` float32 [N, H, W, 1] (the fused output's sigmoid, resized back to
H x W) and `mask` uint8 [N, H, W, 1] (1 where probability >= the threshold fixed at export,
default 0.5). The same computation as `hnn_train.predict`. Signature `og_hu`: in `hu` float32
[N, H, W, 1] in HU, windowed and copied into 3 channels (the `og` variant's composite) -> the
same outputs.

Inputs are checked in the graph, and every network waits for the checks: a wrong channel count
or rank, an empty batch or image, NaN/inf HU or composites, zoom < 1 or too large, a batch over
`max_batch_pixels` (the HNN: N x H x W and N x its input size squared) each fail the request
with a message naming the input. (Without the shape check a rank-3 input aborts the serving
process inside the oneDNN convolution.)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf
from absl import logging

from sgan_tf import outputs, precision, pretrained, scale, variants
from sgan_tf.data import ct, limits
from sgan_tf.data.ct import NETWORK_WINDOW, Window
from sgan_tf.enhance import Enhancer, GeneratorStage
from sgan_tf.errors import UserError
from sgan_tf.segment import HNN_THRESHOLD, hnn, hnn_train, segmenters
from sgan_tf.training import run_folder

ENHANCER = "enhancer"
HNN = "hnn"
MODELS_CONFIG = "models.config"
SIDECAR = os.path.join("assets.extra", "export.json")
MAX_SIDE = limits.EXPORT_MAX_SIDE
MAX_BATCH_PIXELS = limits.EXPORT_MAX_BATCH_PIXELS


def _checked(x: tf.Tensor, name: str, channels: int) -> tf.Tensor:
    """x after run-time checks of its shape: TF Serving feeds whatever shape a request has."""
    x = tf.ensure_shape(x, [None, None, None, channels], name=f"check_{name}")
    nonempty = tf.debugging.assert_positive(
        tf.shape(x)[:3], message=f"{name}: need at least one image of at least 1 x 1 pixels ([N, H, W, {channels}])")
    with tf.control_dependencies([nonempty]):
        return tf.identity(x)


def _apply(stage: GeneratorStage, x: tf.Tensor) -> tf.Tensor:
    """A generator stage on a batch, clipped as GeneratorStage.__call__ clips."""
    return tf.clip_by_value(stage.module(x), 0.0, 1.0)


def zoomed_size(hw: tf.Tensor, zoom: tf.Tensor, max_side: int) -> tf.Tensor:
    """[h, w] = max(round([H, W] * zoom), 1) (float64, halves to even), after checking the zoom."""
    target = scale.zoomed_size_tf(hw, zoom)
    checks = [
        tf.debugging.assert_greater_equal(zoom, 1.0, message="zoom: must be >= 1 (the zoom only enlarges)"),
        tf.debugging.assert_less_equal(
            tf.reduce_max(target), tf.constant(max_side, tf.float64),
            message=f"zoom: the zoomed image would be over {max_side} px per side (max_side of this export); "
                    "send a smaller ROI or zoom"),
    ]
    with tf.control_dependencies(checks):
        return tf.cast(target, tf.int32)


def check_batch(x: tf.Tensor, hw: tf.Tensor, max_batch_pixels: int, name: str) -> tf.Operation:
    """Asserts that a batch of x's size with images of hw = [h, w] holds at most
    `max_batch_pixels` pixels in all."""
    total = tf.cast(tf.shape(x)[0], tf.int64) * tf.cast(hw[0], tf.int64) * tf.cast(hw[1], tf.int64)
    return tf.debugging.assert_less_equal(
        total, tf.constant(max_batch_pixels, tf.int64),
        message=f"{name}: the batch would hold more than {max_batch_pixels} pixels (N x h x w; max_batch_pixels of "
                "this export); send fewer or smaller images")


def _after(checks: list, x: tf.Tensor) -> tf.Tensor:
    """x, once `checks` have run: what uses it (the networks) waits for them."""
    with tf.control_dependencies(checks):
        return tf.identity(x)


def enhance_graph(enhancer: Enhancer, hu: tf.Tensor, zoom: tf.Tensor, window: Window, max_side: int = MAX_SIDE,
                  max_batch_pixels: int = MAX_BATCH_PIXELS) -> dict[str, tf.Tensor]:
    """The enhancer signature's outputs (module docstring) for `hu` [N, H, W, 1] and `zoom` []:
    Enhancer.__call__ on each image, untiled, after every check of the request."""
    hu = tf.debugging.assert_all_finite(_checked(hu, "hu", 1), "hu: NaN/inf pixels")
    zoom = tf.ensure_shape(zoom, [], name="check_zoom")
    size = zoomed_size(tf.shape(hu)[1:3], zoom, max_side)
    hu = _after([size, check_batch(hu, size, max_batch_pixels, "hu")], hu)
    og = scale.to_unit_tf(hu, window)
    first = _apply(enhancer.before_zoom, og) if enhancer.before_zoom else og
    zoomed = scale.zoom_cubic_tf(tf.concat([hu, og, first], axis=-1), size[0], size[1])
    og_hu = zoomed[..., 0:1]
    og, first = tf.clip_by_value(zoomed[..., 1:2], 0.0, 1.0), tf.clip_by_value(zoomed[..., 2:3], 0.0, 1.0)
    second = _apply(enhancer.after_zoom, first) if enhancer.after_zoom else first
    if enhancer.before_zoom is None and enhancer.after_zoom is not None:
        first = second  # single GAN: one output fills both channels, as in Enhancer
    denoised_hu, enhanced_hu = scale.output_hu_tf(first, og_hu, window), scale.output_hu_tf(second, og_hu, window)
    return {
        "denoised": first, "enhanced": second, "composite": tf.concat([og, first, second], axis=-1),
        "denoised_hu": denoised_hu, "enhanced_hu": enhanced_hu,
        "composite_hu": tf.concat([og_hu, denoised_hu, enhanced_hu], axis=-1),
    }


def hnn_graph(model: hnn.HNN, composite: tf.Tensor, threshold: float = HNN_THRESHOLD,
              max_batch_pixels: int = MAX_BATCH_PIXELS) -> dict[str, tf.Tensor]:
    """The HNN signatures' outputs for composites [N, H, W, 3]: hnn_train.predict's ops, and the
    mask, after every check of the request."""
    composite = tf.debugging.assert_all_finite(_checked(composite, "composite", 3), "composite: NaN/inf pixels")
    size = tf.shape(composite)[1:3]
    composite = _after([check_batch(composite, size, max_batch_pixels, "composite"),
                        check_batch(composite, [model.input_size] * 2, max_batch_pixels, "composite")], composite)
    x = scale.resize_image_tf(composite, model.input_size, model.input_size)
    probability = scale.resize_image_tf(model.probability(x), size[0], size[1])
    return {"probability": probability, "mask": tf.cast(probability >= threshold, tf.uint8)}


def og_composite(hu: tf.Tensor, window: Window) -> tf.Tensor:
    """The `og` variant's composite of HU images [N, H, W, 1]: the windowed image in 3 channels."""
    hu = tf.debugging.assert_all_finite(_checked(hu, "hu", 1), "hu: NaN/inf pixels")
    return tf.tile(scale.to_unit_tf(hu, window), [1, 1, 1, 3])


def _spec_json(dtype: tf.DType, shape: tf.TensorShape) -> dict:
    return {"dtype": dtype.name, "shape": shape.as_list()}


def _signature_json(fn: tf.types.experimental.GenericFunction, specs: list[tf.TensorSpec]) -> dict:
    """Inputs and outputs (dtype, shape; None = any) of an endpoint, read from its traced graph."""
    outputs = fn.get_concrete_function().structured_outputs
    return {"inputs": {s.name: _spec_json(s.dtype, s.shape) for s in specs},
            "outputs": {k: _spec_json(v.dtype, v.shape) for k, v in sorted(outputs.items())}}


def version_path(export_dir: str, model: str, version: int) -> str:
    """DIR/<model>/<version>, absolute; TF Serving versions are positive integers."""
    if version < 1:
        raise UserError(f"--version={version}: TF Serving versions are positive integers")
    return os.path.join(os.path.abspath(export_dir), model, str(version))


def check_target(path: str, overwrite: bool) -> None:
    """UserError if the version folder exists and overwrite is off."""
    if os.path.exists(path) and not overwrite:
        raise UserError(f"{path} exists (a server may be serving it): export another --version, "
                        "or pass --overwrite to replace it")


def _write(archive: keras.export.ExportArchive, path: str, sidecar: dict, overwrite: bool) -> None:
    """Writes the archive and its sidecar into a hidden sibling folder, then renames it to
    `path`: a TF Serving polling the model folder only ever sees a complete version (it skips
    names that are not numbers)."""
    check_target(path, overwrite)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.writing.", dir=parent)
    try:
        archive.write_out(staging, verbose=False)
        outputs.write_json(os.path.join(staging, SIDECAR), sidecar, staging)
        if os.path.exists(path):
            replaced = f"{staging}.replaced"
            os.rename(path, replaced)
            os.rename(staging, path)
            shutil.rmtree(replaced)
        else:
            os.rename(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _provenance() -> dict:
    return {"exported_by": "sgan_tf.serving.export", "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "tensorflow": tf.__version__, "keras": keras.__version__}


def export_enhancer(enhancer: Enhancer, path: str, window: Window = NETWORK_WINDOW, max_side: int = MAX_SIDE,
                    overwrite: bool = False, max_batch_pixels: int = MAX_BATCH_PIXELS) -> dict:
    """Writes the enhancer SavedModel to the version folder `path` (module docstring) through
    `window`; returns the sidecar written with it."""
    stages = [s for s in (enhancer.before_zoom, enhancer.after_zoom) if s is not None]
    if not all(isinstance(s, GeneratorStage) for s in stages):
        raise UserError(f"variant {enhancer.variant}: only TF models export (BM3D and NL-means do not)")
    if max_side < 1 or max_batch_pixels < 1:
        raise UserError(f"--max_side={max_side} and --max_batch_pixels={max_batch_pixels} must be positive")
    check_target(path, overwrite)
    specs = [tf.TensorSpec([None, None, None, 1], tf.float32, name="hu"), tf.TensorSpec([], tf.float32, name="zoom")]
    archive = keras.export.ExportArchive()
    for stage in stages:
        archive.track(stage.module)
    fn = archive.add_endpoint(
        "serving_default", lambda hu, zoom: enhance_graph(enhancer, hu, zoom, window, max_side, max_batch_pixels),
        input_signature=specs)
    sidecar = {"model": ENHANCER, "variant": enhancer.variant, "sources": enhancer.info,
               "window_hu": window.as_list(), "max_side": max_side, "max_batch_pixels": max_batch_pixels,
               "signatures": {"serving_default": _signature_json(fn, specs)}, **_provenance()}
    _write(archive, path, sidecar, overwrite)
    return sidecar


def load_hnn_run(model_dir: str) -> tuple[hnn.HNN, dict]:
    """An HNN training run's model (newest checkpoint that can be restored) and what the sidecar
    records of it."""
    model, checkpoint = hnn_train.load_hnn(model_dir)
    saved = run_folder.read_config(model_dir)
    info = run_folder.model_info(model_dir, checkpoint,
                                 **{k: saved.get(k) for k in ("variant", "window", "input_size", "filters")})
    return model, info


def export_hnn(model: hnn.HNN, path: str, info: dict | None = None, window: Window = NETWORK_WINDOW,
               threshold: float = HNN_THRESHOLD, overwrite: bool = False,
               max_batch_pixels: int = MAX_BATCH_PIXELS) -> dict:
    """Writes the HNN SavedModel to the version folder `path`: signatures `serving_default`
    (composites) and `og_hu` (HU through `window`), the mask at `threshold`; returns the sidecar."""
    if not 0.0 < threshold < 1.0:
        raise UserError(f"--threshold={threshold} must lie strictly between 0 and 1")
    if max_batch_pixels < 1:
        raise UserError(f"--max_batch_pixels={max_batch_pixels} must be positive")
    check_target(path, overwrite)
    composite_spec = [tf.TensorSpec([None, None, None, 3], tf.float32, name="composite")]
    hu_spec = [tf.TensorSpec([None, None, None, 1], tf.float32, name="hu")]
    # Not archive.track(model): the endpoints pick up the Keras variables they use, and tracking
    # the model as well saves every weight twice (2x the size on disk).
    archive = keras.export.ExportArchive()
    default = archive.add_endpoint(
        "serving_default", lambda composite: hnn_graph(model, composite, threshold, max_batch_pixels),
        input_signature=composite_spec)
    og = archive.add_endpoint(
        "og_hu", lambda hu: hnn_graph(model, og_composite(hu, window), threshold, max_batch_pixels),
        input_signature=hu_spec)
    sidecar = {"model": HNN, "sources": {"hnn_model": info or {}}, "window_hu": window.as_list(),
               "threshold": threshold, "input_size": model.input_size, "max_batch_pixels": max_batch_pixels,
               "signatures": {"serving_default": _signature_json(default, composite_spec),
                              "og_hu": _signature_json(og, hu_spec)}, **_provenance()}
    _write(archive, path, sidecar, overwrite)
    return sidecar


def _versions(folder: str) -> list[int]:
    """Version numbers under a model folder that hold a SavedModel."""
    if not os.path.isdir(folder):
        return []
    return sorted(int(n) for n in os.listdir(folder)
                  if n.isdigit() and os.path.isfile(os.path.join(folder, n, "saved_model.pb")))


def container_root(export_dir: str, base_path: str | None) -> str:
    """Where the server sees export_dir: `base_path` (e.g. /models in the tensorflow/serving
    container), or export_dir's absolute path when the server runs on this file system."""
    if base_path is None:
        return os.path.abspath(export_dir)
    if not base_path.startswith("/"):
        raise UserError(f"--base_path={base_path!r} must be an absolute path as the server sees it, e.g. /models")
    return base_path.rstrip("/") or "/"


def write_models_config(export_dir: str, base_path: str | None = None) -> str:
    """Writes DIR/models.config, TF Serving's model_config_list text proto with one entry per
    model folder of export_dir that holds a version; base_path: see `container_root`."""
    export_dir = os.path.abspath(export_dir)
    models = sorted(n for n in os.listdir(export_dir) if _versions(os.path.join(export_dir, n)))
    if not models:
        raise UserError(f"{export_dir} holds no exported model (<model>/<version>/saved_model.pb)")
    root = container_root(export_dir, base_path)
    entries = "".join(
        f"  config {{\n    name: {json.dumps(name)}\n"
        f"    base_path: {json.dumps(os.path.join(root, name), ensure_ascii=False)}\n"
        f"    model_platform: \"tensorflow\"\n  }}\n"
        for name in models)
    return outputs.write_file(os.path.join(export_dir, MODELS_CONFIG), "model_config_list {\n" + entries + "}\n")


def docker_command(export_dir: str, base_path: str | None = None) -> str:
    """The tensorflow/serving container command serving export_dir's models.config (REST on
    8501, gRPC on 8500), export_dir mounted where models.config says the models are."""
    root = container_root(export_dir, base_path)
    return (f'docker run -p 8501:8501 -p 8500:8500 -v "{os.path.abspath(export_dir)}:{root}" tensorflow/serving '
            f"--model_config_file={os.path.join(root, MODELS_CONFIG)}")


@dataclasses.dataclass
class ExportConfig:
    """What export_main's flags say."""

    export_dir: str
    version: int
    variant: str = variants.DEFAULT
    models: dict[str, str | None] = dataclasses.field(default_factory=dict)  # name -> --<name>_model, hnn too
    hnn_variant: str | None = None  # with a folder of HNN runs: the one to export
    window: Window = NETWORK_WINDOW
    threshold: float = HNN_THRESHOLD
    max_side: int = MAX_SIDE
    max_batch_pixels: int = MAX_BATCH_PIXELS
    base_path: str | None = None
    overwrite: bool = False
    inference_precision: str = precision.SERVING_DEFAULT  # the exported enhancer's compute dtype


def hnn_run(value: str | None, variant: str | None) -> str:
    """The HNN model_dir a --hnn_model value names (or the shipped HNN) for `variant` (None: its
    only one)."""
    runs = segmenters.hnn_models(value)
    if variant is None and len(runs) == 1:
        return next(iter(runs.values()))
    if variant is None:
        raise UserError(f"--hnn_model {value} holds HNNs for {', '.join(sorted(runs))}: choose one with --hnn_variant")
    if variant not in runs:
        raise UserError(f"--hnn_model {value} has no HNN for variant {variant} (it has {', '.join(sorted(runs))})")
    return runs[variant]


def export_models(config: ExportConfig) -> list[str]:
    """Exports the enhancer of `config.variant` and/or an HNN as the model flags name them (none
    named: the shipped ones), then models.config; returns a line per file written. Every model
    loads before anything is written, so a bad model folder leaves the export untouched."""
    models = dict(config.models)
    hnn_model = models.pop("hnn", None)
    given = any(models.values()) or hnn_model
    want_enhancer = any(models.values()) or (
        not given and all(pretrained.is_shipped(n) for n in variants.get(config.variant).needs))
    want_hnn = bool(hnn_model) or (not given and pretrained.is_shipped("hnn"))
    if not want_enhancer and not want_hnn:
        raise UserError("nothing to export: give the enhancer's --denoise_model/--enhance_model "
                        "(or --single_model, --dncnn_model with --variant) and/or --hnn_model (no model ships)")
    container_root(config.export_dir, config.base_path)
    targets = {name: version_path(config.export_dir, name, config.version)
               for name, wanted in ((ENHANCER, want_enhancer), (HNN, want_hnn)) if wanted}
    for path in targets.values():
        check_target(path, config.overwrite)
    outputs.check_writable(config.export_dir)
    if ENHANCER in targets:
        enhancer = Enhancer.for_variant(config.variant, models, compute_dtype=config.inference_precision)
    if HNN in targets:
        run = hnn_run(hnn_model, config.hnn_variant)
        model, info = load_hnn_run(run)
        if info.get("window") and ct.WindowChoice.parse(info["window"]).fixed != config.window:
            logging.warning("%s was trained with --window=%s; the export's og_hu signature uses %s",
                            run, info["window"], config.window.as_list())
    written = []
    if ENHANCER in targets:
        export_enhancer(enhancer, targets[ENHANCER], config.window, config.max_side, config.overwrite,
                        config.max_batch_pixels)
        written.append(f"wrote {targets[ENHANCER]} (enhancer, variant {config.variant}, "
                       f"window {config.window.as_list()} HU)")
    if HNN in targets:
        export_hnn(model, targets[HNN], info, config.window, config.threshold, config.overwrite,
                   config.max_batch_pixels)
        written.append(f"wrote {targets[HNN]} (HNN of {run}, variant {info.get('variant')}, "
                       f"threshold {config.threshold})")
    written.append(f"wrote {write_models_config(config.export_dir, config.base_path)} "
                   f"(model base paths under {container_root(config.export_dir, config.base_path)})")
    written += [f"inspect: saved_model_cli show --dir {path} --all" for path in targets.values()]
    return written
