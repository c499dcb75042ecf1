"""tf.distribute: a mirrored step equals a single-device step; MultiWorker runs a step."""

import json
import os
import socket
import subprocess
import sys

import pytest

from conftest import REPO, run_module

HERE = os.path.dirname(os.path.abspath(__file__))


def test_mirrored_two_cpu_replicas_match_one_device(tmp_path):
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "mirrored_check.py"), str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": REPO},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["max_relative_weight_diff"] < 1e-4, report
    assert report["bn_replica_spread"] == 0.0  # synchronized BN: identical moving statistics
    single, mirrored = report["metrics"]
    for key in ("g_loss", "d_loss", "content_mse", "d_real", "d_fake"):
        assert mirrored[key] == pytest.approx(single[key], rel=1e-4, abs=1e-6), key


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.timeout(400)
def test_multi_worker_two_local_processes_train_and_checkpoint(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    model_dir = tmp_path / "run"
    args = [
        sys.executable, "-m", "sgan_tf.cli.train_main", "--stage=denoise", "--strategy=multi_worker",
        "--preset=quickstart", f"--model_dir={model_dir}", "--train_steps=2", "--pretrain_steps=1",
        "--num_blocks=1", "--filters=4", "--crop_size=16", "--batch_size=4", "--num_val_pairs=2",
        "--checkpoint_every=2", "--vgg_weight=0",
    ]
    procs, logs = [], []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = {**os.environ, "TF_CONFIG": json.dumps(tf_config), "TF_CPP_MIN_LOG_LEVEL": "2"}
        # Files, not pipes: a worker blocked on a full pipe would stall the other in a collective.
        logs.append(open(tmp_path / f"worker_{index}.log", "w+"))
        procs.append(subprocess.Popen(args, cwd=REPO, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
    try:
        for p in procs:
            p.wait(timeout=300)
    finally:
        for p in procs:
            p.kill()
    outputs = []
    for log in logs:
        log.seek(0)
        outputs.append(log.read())
        log.close()
    for p, out in zip(procs, outputs):
        assert p.returncode == 0, out[-3000:]
    assert (model_dir / "ckpt-2.index").exists()
    assert "on 2 replica(s)" in outputs[0]
    assert "Saved " + str(model_dir / "ckpt-2") in outputs[0]
    assert str(model_dir / "ckpt-2") not in outputs[1]  # only the chief writes to model_dir


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    proc = run_module("sgan_tf.cli.train_main", "--stage=denoise", "--strategy=multi_worker", f"--model_dir={tmp_path}",
                      env=env, own_env=True, timeout=120)
    assert proc.returncode == 2
    assert "TF_CONFIG" in proc.stderr and "Traceback" not in proc.stderr


def test_malformed_tf_config_is_a_clear_error(tmp_path):
    proc = run_module("sgan_tf.cli.train_main", "--stage=denoise", "--strategy=multi_worker", f"--model_dir={tmp_path}",
                      env={"TF_CONFIG": '{"task": {}}'})
    assert proc.returncode == 2 and '"cluster" and "task"' in proc.stderr
