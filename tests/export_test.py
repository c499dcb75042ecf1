"""SavedModel export: the in-graph zoom against OpenCV, saved_model_cli show/run, the reloaded
models without sgan_tf or keras against the in-process Enhancer and hnn_train.predict, TF
Serving REST bodies built by export/client.py, bad inputs, and the version folder rules."""

import http.server
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import tensorflow as tf

from sgan_tf import enhance
from sgan_tf.serving import export
from sgan_tf.data import ct
from sgan_tf.errors import UserError
from sgan_tf.segment import hnn_train
from sgan_tf.training import run_folder

from conftest import REPO

TINY_HNN_FILTERS = (4, 8, 8, 8, 8)
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
WINDOW = ct.NETWORK_WINDOW
HU_ATOL = 1e-5 * WINDOW.width  # 1e-5 of the network scale, in HU


def make_hnn_run(model_dir, variant: str = "og") -> str:
    """A tiny HNN training run as the trainer leaves it (config.json, ckpt-0), random weights."""
    config = hnn_train.HNNConfig(str(model_dir), data_dir=None, variant=variant, filters=TINY_HNN_FILTERS,
                                 input_size=32, backbone_weights="none")
    trainer = hnn_train.HNNTrainer(config, tf.distribute.get_strategy())
    trainer.initialise()
    trainer.save()
    run_folder.write_config(str(model_dir), config)
    return str(model_dir)


def load_client():
    spec = importlib.util.spec_from_file_location("sgan_export_client", os.path.join(REPO, "export", "client.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def hu_rois(n: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """[n, h, w, 1] HU: soft tissue with a hypodense disk, noise, some air and bone beyond the window."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    disk = (xx - w / 2) ** 2 + (yy - h / 2) ** 2 < (min(h, w) / 4) ** 2
    hu = 60.0 - 50.0 * disk + rng.normal(0, 40, (n, h, w))
    hu[:, 0, :3], hu[:, -1, -3:] = -1000.0, 900.0
    return hu[..., None].astype(np.float32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_models):
    """An export dir with the sgan and gan1 enhancers of the tiny models and a tiny og HNN."""
    root = tmp_path_factory.mktemp("export")
    sgan = enhance.Enhancer.for_variant("sgan", tiny_models)
    gan1 = enhance.Enhancer.for_variant("gan1", tiny_models)
    model, info = export.load_hnn_run(make_hnn_run(root / "hnn_run"))
    paths = {"enhancer": export.version_path(root / "out", export.ENHANCER, 1),
             "gan1": str(root / "out" / "gan1" / "1"),
             "hnn": export.version_path(root / "out", export.HNN, 1)}
    export.export_enhancer(sgan, paths["enhancer"])
    export.export_enhancer(gan1, paths["gan1"])
    export.export_hnn(model, paths["hnn"], info)
    return {"root": root, "dir": str(root / "out"), "paths": paths, "sgan": sgan, "gan1": gan1, "hnn": model}


def _sidecar(path: str) -> dict:
    with open(os.path.join(path, export.SIDECAR), encoding="utf-8") as f:
        return json.load(f)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([SAVED_MODEL_CLI, *args], capture_output=True, text=True, timeout=300, env=env)


def _signatures(show_output: str) -> dict:
    """{signature: {"inputs"/"outputs": {name: (dtype, shape)}}} from `saved_model_cli show --all`."""
    found = {}
    for block in re.split(r"\nsignature_def\['", show_output)[1:]:
        name = block.split("'", 1)[0]
        entries = {"inputs": {}, "outputs": {}}
        for kind, key, dtype, shape in re.findall(
                r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: ([^\n]+)", block):
            entries[kind][key] = (dtype, shape.strip())
        found[name] = entries
    return found


def test_saved_model_cli_show_lists_the_documented_signatures(exported):
    enhancer = _cli("show", "--dir", exported["paths"]["enhancer"], "--all")
    assert enhancer.returncode == 0, enhancer.stderr[-2000:]
    sig = _signatures(enhancer.stdout)["serving_default"]
    assert sig["inputs"] == {"hu": ("DT_FLOAT", "(-1, -1, -1, 1)"), "zoom": ("DT_FLOAT", "()")}
    assert sig["outputs"] == {
        "denoised": ("DT_FLOAT", "(-1, -1, -1, 1)"), "enhanced": ("DT_FLOAT", "(-1, -1, -1, 1)"),
        "composite": ("DT_FLOAT", "(-1, -1, -1, 3)"), "denoised_hu": ("DT_FLOAT", "(-1, -1, -1, 1)"),
        "enhanced_hu": ("DT_FLOAT", "(-1, -1, -1, 1)"), "composite_hu": ("DT_FLOAT", "(-1, -1, -1, 3)")}
    hnn = _cli("show", "--dir", exported["paths"]["hnn"], "--all")
    assert hnn.returncode == 0, hnn.stderr[-2000:]
    sigs = _signatures(hnn.stdout)
    outputs = {"probability": ("DT_FLOAT", "(-1, -1, -1, 1)"), "mask": ("DT_UINT8", "(-1, -1, -1, 1)")}
    assert sigs["serving_default"] == {"inputs": {"composite": ("DT_FLOAT", "(-1, -1, -1, 3)")}, "outputs": outputs}
    assert sigs["og_hu"] == {"inputs": {"hu": ("DT_FLOAT", "(-1, -1, -1, 1)")}, "outputs": outputs}
    assert "Method name is: tensorflow/serving/predict" in hnn.stdout
    sidecar = _sidecar(exported["paths"]["hnn"])
    assert sidecar["threshold"] == 0.5 and sidecar["window_hu"] == [-160.0, 240.0]
    assert sidecar["signatures"]["og_hu"]["outputs"]["mask"] == {"dtype": "uint8", "shape": [None, None, None, 1]}
    assert sidecar["sources"]["hnn_model"]["checkpoint"] == "ckpt-0"
    sidecar = _sidecar(exported["paths"]["enhancer"])
    assert sidecar["variant"] == "sgan" and sidecar["sources"]["enhance_model"]["checkpoint"] == "ckpt-3"


def test_exports_hold_each_weight_once(exported):
    """The checkpoint in each export stores the models' weights once (tracking the Keras HNN in
    the archive as well stored them twice)."""
    def stored(path):
        entries = tf.train.list_variables(os.path.join(path, "variables", "variables"))
        return sum(int(np.prod(shape)) for name, shape in entries if name != "_CHECKPOINTABLE_OBJECT_GRAPH")

    count = lambda variables: sum(int(np.prod(v.shape)) for v in variables)
    sgan = exported["sgan"]
    assert stored(exported["paths"]["hnn"]) == count(exported["hnn"].weights)
    assert stored(exported["paths"]["enhancer"]) == count(sgan.before_zoom.module.variables
                                                          + sgan.after_zoom.module.variables)


def test_saved_model_cli_run_writes_the_outputs(exported, tmp_path):
    np.save(tmp_path / "hu.npy", hu_rois(2, 20, 24))
    enhancer = _cli("run", "--dir", exported["paths"]["enhancer"], "--tag_set", "serve", "--signature_def",
                    "serving_default", "--inputs", f"hu={tmp_path / 'hu.npy'}", "--input_exprs", "zoom=2.5",
                    "--outdir", str(tmp_path / "enh"))
    assert enhancer.returncode == 0, enhancer.stderr[-2000:]
    assert np.load(tmp_path / "enh" / "composite_hu.npy").shape == (2, 50, 60, 3)
    assert np.load(tmp_path / "enh" / "enhanced.npy").shape == (2, 50, 60, 1)
    hnn = _cli("run", "--dir", exported["paths"]["hnn"], "--tag_set", "serve", "--signature_def", "og_hu",
               "--inputs", f"hu={tmp_path / 'hu.npy'}", "--outdir", str(tmp_path / "hnn"))
    assert hnn.returncode == 0, hnn.stderr[-2000:]
    mask = np.load(tmp_path / "hnn" / "mask.npy")
    assert mask.shape == (2, 20, 24, 1) and mask.dtype == np.uint8


def test_reloaded_without_sgan_tf_or_keras_equals_in_process(exported, tmp_path):
    """The server's view: TensorFlow alone (sgan_tf and keras unimportable), run outside the repo."""
    hu, zoom = hu_rois(3, 40, 36), np.float32(2.5)
    small = hu_rois(2, 17, 23, seed=1)
    composites = np.random.default_rng(2).random((3, 50, 41, 3)).astype(np.float32)
    arrays = {"hu": hu, "zoom": zoom, "small": small, "zoom32": np.float32(3.2), "composite": composites}
    for name, value in arrays.items():
        np.save(tmp_path / f"{name}.npy", value)
    paths = exported["paths"]
    jobs = [
        (paths["enhancer"], "serving_default", {"hu": "hu", "zoom": "zoom"}, "sgan"),
        (paths["enhancer"], "serving_default", {"hu": "small", "zoom": "zoom32"}, "sgan_small"),
        (paths["gan1"], "serving_default", {"hu": "hu", "zoom": "zoom"}, "gan1"),
        (paths["hnn"], "serving_default", {"composite": "composite"}, "hnn"),
        (paths["hnn"], "og_hu", {"hu": "hu"}, "hnn_og"),
    ]
    spec = [{"model": m, "signature": s, "inputs": {k: str(tmp_path / f"{v}.npy") for k, v in i.items()},
             "outputs": str(tmp_path / out)} for m, s, i, out in jobs]
    (tmp_path / "jobs.json").write_text(json.dumps(spec))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = os.path.join(REPO, "tests", "serving_child.py")
    child = subprocess.run([sys.executable, script, str(tmp_path / "jobs.json")], cwd=tmp_path,
                           env={**env, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == []  # neither package got loaded

    def served(name):
        return {f[:-4]: np.load(tmp_path / name / f) for f in os.listdir(tmp_path / name)}

    for out, enhancer, images, z in (("sgan", exported["sgan"], hu, zoom), ("sgan_small", exported["sgan"], small, 3.2),
                                     ("gan1", exported["gan1"], hu, zoom)):
        got = served(out)
        for i, image in enumerate(images):
            want = enhancer(image[..., 0], float(np.float32(z)))
            for key in ("denoised", "enhanced", "composite"):
                np.testing.assert_allclose(got[key][i].squeeze(-1) if key != "composite" else got[key][i],
                                           getattr(want, key), atol=1e-5, rtol=0, err_msg=f"{out} {key}")
            for key in ("denoised_hu", "enhanced_hu", "composite_hu"):
                value = got[key][i].squeeze(-1) if key != "composite_hu" else got[key][i]
                # The OG channel is the zoomed input, so allow 1e-5 of its own range there.
                tol = HU_ATOL if key != "composite_hu" else 1e-5 * np.ptp(image)
                np.testing.assert_allclose(value, getattr(want, key), atol=tol, rtol=0, err_msg=f"{out} {key}")
    assert got["denoised"].shape == (3, 100, 90, 1)
    assert np.abs(served("sgan")["enhanced"] - served("gan1")["enhanced"]).max() > 1e-3  # G2 ran
    hnn, prob = served("hnn"), hnn_train.predict(exported["hnn"], composites)
    np.testing.assert_allclose(hnn["probability"][..., 0], prob, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(hnn["mask"][..., 0], (prob >= 0.5).astype(np.uint8))
    assert 0 < hnn["mask"].mean() < 1  # the threshold really splits
    og = np.repeat(WINDOW.to_unit(hu[..., 0])[..., None], 3, axis=-1)
    np.testing.assert_allclose(served("hnn_og")["probability"][..., 0], hnn_train.predict(exported["hnn"], og),
                               atol=1e-5, rtol=0)


def serve_rest(loaded, body: dict) -> dict:
    """TF Serving's REST predict as its API page describes it, on a loaded SavedModel: JSON
    values become tensors of the signature's dtypes; "inputs" (columnar) is answered with
    "outputs", "instances" (rows stacked into a batch; a row is an object of named inputs, or
    the value itself when the signature has one input) with "predictions", one object per row."""
    body = json.loads(json.dumps(body))  # what goes over the wire
    fn = loaded.signatures[body.get("signature_name", "serving_default")]
    specs = fn.structured_input_signature[1]
    if "inputs" in body:
        out = fn(**{k: tf.constant(v, specs[k].dtype) for k, v in body["inputs"].items()})
        return json.loads(json.dumps({"outputs": {k: v.numpy().tolist() for k, v in out.items()}}))
    rows = body["instances"]
    if not isinstance(rows[0], dict):
        (name,) = specs
        rows = [{name: row} for row in rows]
    out = {k: v.numpy() for k, v in fn(**{k: tf.constant([r[k] for r in rows], specs[k].dtype) for k in specs}).items()}
    rows = [{k: v[i].tolist() for k, v in out.items()} for i in range(len(rows))]
    return json.loads(json.dumps({"predictions": rows}))


def test_client_requests_through_the_signatures(exported):
    client = load_client()
    enhancer = tf.saved_model.load(exported["paths"]["enhancer"])
    hu = hu_rois(2, 24, 20)[..., 0]
    body = client.enhancer_request(hu, 2.0)
    assert body["signature_name"] == "serving_default" and body["inputs"]["zoom"] == 2.0
    outputs = client.parse_response(serve_rest(enhancer, body))
    assert sorted(outputs) == ["composite", "composite_hu", "denoised", "denoised_hu", "enhanced", "enhanced_hu"]
    assert outputs["composite_hu"].shape == (2, 48, 40, 3)
    direct = exported["sgan"](hu[1], 2.0)
    np.testing.assert_allclose(outputs["enhanced"][1, ..., 0], direct.enhanced, atol=1e-5, rtol=0)

    hnn = tf.saved_model.load(exported["paths"]["hnn"])
    composites = np.random.default_rng(3).random((2, 30, 26, 3)).astype(np.float32)
    body = client.hnn_request(composites)
    assert len(body["instances"]) == 2 and np.shape(body["instances"][0]) == (30, 26, 3)
    rows = client.parse_response(serve_rest(hnn, body))
    assert sorted(rows) == ["mask", "probability"]
    assert rows["probability"].shape == (2, 30, 26, 1) and set(np.unique(rows["mask"])) <= {0, 1}
    np.testing.assert_allclose(rows["probability"][..., 0], hnn_train.predict(exported["hnn"], composites), atol=1e-5)
    og = client.parse_response(serve_rest(hnn, client.hnn_request(hu[0], "og_hu")))
    assert og["mask"].shape == (1, 24, 20, 1)
    with pytest.raises(ValueError, match="server error: bad zoom"):
        client.parse_response({"error": "bad zoom"})


@pytest.fixture
def rest_server(exported):
    """A loopback HTTP server answering POST /v1/models/<model>:predict with `serve_rest`, and
    errors as TF Serving does ({"error": message}, HTTP 400)."""
    models = {name: tf.saved_model.load(exported["paths"][name]) for name in ("enhancer", "hnn")}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            model = self.path.removeprefix("/v1/models/").removesuffix(":predict")
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                status, answer = 200, serve_rest(models[model], body)
            except tf.errors.InvalidArgumentError as e:
                status, answer = 400, {"error": e.message}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_client_main_end_to_end(rest_server, exported, tmp_path, capsys):
    client = load_client()
    hu = hu_rois(1, 30, 26)[0, ..., 0]
    ct.write_hu_png(str(tmp_path / "roi.png"), hu)
    assert client.main([f"--server={rest_server}", "--model=enhancer", f"--input={tmp_path / 'roi.png'}",
                        "--zoom=2", f"--output_dir={tmp_path / 'enh'}"]) == 0
    composite = np.load(tmp_path / "enh" / "composite.npy")
    assert composite.dtype == np.float32 and composite.shape == (1, 60, 52, 3)
    want = exported["sgan"](np.rint(hu), 2.0)  # the PNG stores whole HU
    np.testing.assert_allclose(composite[0], want.composite, atol=1e-5, rtol=0)
    assert client.main([f"--server={rest_server}", "--model=hnn", f"--input={tmp_path / 'enh' / 'composite.npy'}",
                        f"--output_dir={tmp_path / 'seg'}"]) == 0
    mask = np.load(tmp_path / "seg" / "mask.npy")
    assert mask.dtype == np.uint8 and mask.shape == (1, 60, 52, 1)
    assert client.main([f"--server={rest_server}", "--model=enhancer", f"--input={tmp_path / 'roi.png'}",
                        "--zoom=0.5", f"--output_dir={tmp_path / 'bad'}"]) == 2
    err = capsys.readouterr().err
    assert "client: error: server error:" in err and "zoom: must be >= 1" in err


@pytest.mark.parametrize("png_filter", ["NONE", "SUB", "UP", "AVG", "PAETH"])
def test_client_reads_deeplesion_pngs(tmp_path, png_filter):
    """The client's own PNG decoder against OpenCV's reader, for every PNG row filter."""
    client = load_client()
    hu = hu_rois(1, 37, 29)[0, ..., 0]
    hu[5:9] = np.linspace(-1024, 3000, 29)
    png = str(tmp_path / "roi.png")
    cv2.imwrite(png, ct.png16_from_hu(hu), [cv2.IMWRITE_PNG_FILTER, getattr(cv2, f"IMWRITE_PNG_FILTER_{png_filter}")])
    np.testing.assert_array_equal(client.read_hu(png)[0], ct.read_hu_png(png))
    cv2.imwrite(str(tmp_path / "eight.png"), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="16-bit grayscale"):
        client.read_hu(str(tmp_path / "eight.png"))
    np.save(tmp_path / "hu.npy", hu)
    assert client.read_hu(str(tmp_path / "hu.npy")).shape == (1, 37, 29)


def _error(fn, **inputs) -> str:
    with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError)) as info:
        fn(**{k: tf.constant(v) for k, v in inputs.items()})
    return str(info.value)


def test_bad_inputs_fail_with_clear_messages(exported):
    enhancer = tf.saved_model.load(exported["paths"]["enhancer"]).signatures["serving_default"]
    hu, zoom = hu_rois(1, 16, 16), np.float32(2.0)
    assert "expected to be a float tensor but is a double tensor" in _error(
        enhancer, hu=hu.astype(np.float64), zoom=zoom)
    assert "Shape of tensor hu [16,16,1] is not compatible with expected shape [?,?,?,1]" in _error(
        enhancer, hu=hu[0], zoom=zoom)
    assert "Shape of tensor hu [1,16,16,3]" in _error(enhancer, hu=np.repeat(hu, 3, axis=-1), zoom=zoom)
    assert "Shape of tensor zoom [1]" in _error(enhancer, hu=hu, zoom=np.array([2.0], np.float32))
    assert "zoom: must be >= 1" in _error(enhancer, hu=hu, zoom=np.float32(0.5))
    assert "over 1024 px per side" in _error(enhancer, hu=hu, zoom=np.float32(1e6))
    nan = hu.copy()
    nan[0, 3, 3, 0] = np.nan
    assert "hu: NaN/inf pixels" in _error(enhancer, hu=nan, zoom=zoom)
    assert "at least one image" in _error(enhancer, hu=np.zeros((0, 16, 16, 1), np.float32), zoom=zoom)
    assert "zoom: must be >= 1" in _error(enhancer, hu=hu, zoom=np.float32(np.nan))
    assert "over 1024 px per side" in _error(enhancer, hu=hu, zoom=np.float32(np.inf))
    assert "hu: the batch would hold more than 4194304 pixels" in _error(
        enhancer, hu=np.zeros((5, 1024, 1024, 1), np.float32), zoom=np.float32(1.0))
    hnn = tf.saved_model.load(exported["paths"]["hnn"])
    assert "composite: NaN/inf pixels" in _error(hnn.signatures["serving_default"],
                                                 composite=np.full((1, 16, 16, 3), np.nan, np.float32))
    assert "Shape of tensor composite [1,16,16,1]" in _error(hnn.signatures["serving_default"], composite=hu)
    assert "at least one image" in _error(hnn.signatures["serving_default"],
                                          composite=np.zeros((1, 0, 5, 3), np.float32))
    assert "hu: NaN/inf pixels" in _error(hnn.signatures["og_hu"], hu=nan)


def _ancestors(op: tf.Operation) -> set:
    """Every op `op` waits for, through inputs and control dependencies."""
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        for parent in [t.op for t in current.inputs] + list(current.control_inputs):
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return seen


def test_every_network_waits_for_every_check_of_the_request(exported):
    """The size, zoom, batch and NaN checks run before G1, G2 or the HNN: a request over
    max_side used to be refused only after G1 had run on the whole image."""
    graphs = {
        "enhancer": tf.function(lambda hu, zoom: export.enhance_graph(exported["sgan"], hu, zoom, WINDOW)).
        get_concrete_function(tf.TensorSpec([None, None, None, 1], tf.float32), tf.TensorSpec([], tf.float32)).graph,
        "hnn": tf.function(lambda c: export.hnn_graph(exported["hnn"], c)).get_concrete_function(
            tf.TensorSpec([None, None, None, 3], tf.float32)).graph,
    }
    for name, graph in graphs.items():
        ops = graph.get_operations()
        checks = {o for o in ops if o.type in ("Assert", "If", "CheckNumerics")}
        networks = [o for o in ops if o.type == "StatefulPartitionedCall"]
        assert len(checks) >= 4 and networks, name
        for op in networks:
            assert not checks - _ancestors(op), (name, op.name, sorted(c.name for c in checks - _ancestors(op)))


def test_batch_cap(exported):
    hu = hu_rois(3, 20, 20)
    small = export.enhance_graph(exported["gan1"], tf.constant(hu[:2]), tf.constant(1.0), WINDOW, max_batch_pixels=800)
    assert small["enhanced"].shape == (2, 20, 20, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="hu: the batch would hold more than 800 pixels"):
        export.enhance_graph(exported["gan1"], tf.constant(hu), tf.constant(1.0), WINDOW, max_batch_pixels=800)
    with pytest.raises(tf.errors.InvalidArgumentError, match="the batch would hold more than 3000 pixels"):
        export.hnn_graph(exported["hnn"], tf.zeros([3, 20, 20, 3]), max_batch_pixels=3000)  # 3 x 32 x 32 for the HNN
    assert _sidecar(exported["paths"]["enhancer"])["max_batch_pixels"] == 4 * 1024 * 1024


def test_version_folders_are_not_overwritten_unless_asked(exported, tmp_path):
    path = export.version_path(tmp_path / "serving", export.ENHANCER, 3)
    export.export_enhancer(exported["gan1"], path)
    with pytest.raises(UserError, match="exists .*--overwrite"):
        export.export_enhancer(exported["sgan"], path)
    assert _sidecar(path)["variant"] == "gan1"
    export.export_enhancer(exported["sgan"], path, overwrite=True)
    assert _sidecar(path)["variant"] == "sgan"
    assert os.listdir(os.path.dirname(path)) == ["3"]  # no staging folder left behind
    with pytest.raises(UserError, match="positive integers"):
        export.version_path(tmp_path, export.HNN, 0)
    with pytest.raises(UserError, match="only TF models"):
        export.export_enhancer(enhance.Enhancer(lambda x: x, None, "bm3d"), str(tmp_path / "bm3d" / "1"))
    with pytest.raises(UserError, match="threshold"):
        export.export_hnn(exported["hnn"], str(tmp_path / "hnn" / "1"), threshold=1.0)


def test_models_config_lists_the_exported_models(exported, tmp_path):
    text = open(export.write_models_config(exported["dir"])).read()
    names = re.findall(r'name: "(\w+)"', text)
    assert names == ["enhancer", "gan1", "hnn"]
    assert f'base_path: "{os.path.join(exported["dir"], "hnn")}"' in text
    assert text.count('model_platform: "tensorflow"') == 3 and text.startswith("model_config_list {")
    text = open(export.write_models_config(exported["dir"], base_path="/models/")).read()
    assert 'base_path: "/models/enhancer"' in text
    assert export.docker_command(exported["dir"], "/models") == (
        f'docker run -p 8501:8501 -p 8500:8500 -v "{exported["dir"]}:/models" tensorflow/serving '
        "--model_config_file=/models/models.config")
    with pytest.raises(UserError, match="absolute"):
        export.write_models_config(exported["dir"], base_path="models")
    (tmp_path / "empty" / "1").mkdir(parents=True)
    with pytest.raises(UserError, match="no exported model"):
        export.write_models_config(tmp_path / "empty")
