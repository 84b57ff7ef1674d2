"""Data-parallel training: 2 virtual CPU devices and 2 real processes against 1 device.

One module fixture starts three processes at once: `distribution_worker.py`
(1 device, then 2 virtual devices) and the two processes of a
`dove train --distribution multi_worker` run on 127.0.0.1 (JAX:
`KERAS_DISTRIBUTION_*`, TensorFlow: `TF_CONFIG`), each with one device and
its own output folder. Every wait is bounded; on failure or timeout only
these processes are killed.
"""

import json
import os
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
import yaml
from keras import ops
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras import cli
from dove_keras.training.loading import load_retriever

BACKEND = keras.backend.backend()
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
# Frozen backbone (batch norm in inference mode) and no dropout: then a step
# computes the same function of the global batch on any number of devices.
WORKER_MODEL = {"train_image_backbone": False, "dropout": 0.0, "word_dropout": 0.0}
WORKER_TRAINING = {"epochs": 2, "batch_size": 4, "backup_every_n_steps": 100}
TIMEOUT_S = 900
distributed_backends = pytest.mark.skipif(
    BACKEND not in ("jax", "tensorflow"), reason="data-parallel training runs on jax and tensorflow"
)


def free_ports(count):
    """`count` TCP ports free on 127.0.0.1 now (the OS picks them)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def multi_worker_env(index, ports):
    """The environment of process `index` of a 2-process run on `ports`."""
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}  # one device each
    if BACKEND == "jax":
        env.update(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{ports[0]}",
                   KERAS_DISTRIBUTION_NUM_PROCESSES="2", KERAS_DISTRIBUTION_PROCESS_ID=str(index))
    else:
        workers = [f"127.0.0.1:{port}" for port in ports]
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
    return env


def wait_all(processes, logs):
    """Waits for every process; kills the rest when one fails or the time is up."""
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while any(p.poll() is None for p in processes.values()):
            failed = [name for name, p in processes.items() if p.poll() not in (None, 0)]
            assert not failed and time.monotonic() < deadline, f"{failed or 'timeout'}: " + _tails(logs)
            time.sleep(0.5)
        failed = [name for name, p in processes.items() if p.returncode]
        assert not failed, f"{failed}: " + _tails(logs)
    finally:
        for p in processes.values():
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)


def _tails(logs):
    return "\n".join(f"--- {name}\n{open(path).read()[-2000:]}" for name, path in logs.items())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`(experiment file, folder)`: the worker's runs in `devices/`, the processes' in `worker0/`, `worker1/`."""
    root = tmp_path_factory.mktemp("distribution")
    data_root = str(root / "data")
    make_prepared(data_root)
    config = tiny_config(data_root, root / "unused", model=WORKER_MODEL, training=WORKER_TRAINING)
    experiment = root / "experiment.yaml"
    experiment.write_text(yaml.safe_dump(config.to_dict()))
    os.makedirs(root / "devices")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([TESTS_DIR, os.environ.get("PYTHONPATH", "")])}
    worker = os.path.join(TESTS_DIR, "distribution_worker.py")
    commands = {"devices": ([worker, str(experiment), str(root / "devices")], env)}
    ports = free_ports(2)
    for index in range(2):
        commands[f"worker{index}"] = (
            ["-m", "dove_keras.cli", "train", "--config", str(experiment), "--set", f"output_dir={root}/worker{index}",
             "--distribution", "multi_worker", "--no-test", "--quiet"],
            multi_worker_env(index, ports),
        )
    processes, logs = {}, {}
    try:
        for name, (args, process_env) in commands.items():
            logs[name] = str(root / f"{name}.log")
            with open(logs[name], "w") as log:
                processes[name] = subprocess.Popen([sys.executable, *args], env=process_env,
                                                   stdout=log, stderr=subprocess.STDOUT)
    finally:
        wait_all(processes, logs)
    return experiment, root


@pytest.fixture(scope="module")
def distributed_run(runs):
    """`(data root, worker output folder, per-step losses)` of the 1- and 2-device runs."""
    experiment, root = runs
    with open(root / "devices" / "losses.json") as f:
        return str(root / "data"), str(root / "devices"), json.load(f)


def read_weights(path):
    """Every variable of a `.weights.h5` file by its path in the file."""
    import h5py

    values = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: values.update({name: item[()]}) if isinstance(item, h5py.Dataset) else None)
    return values


@distributed_backends
def test_two_devices_follow_the_one_device_loss_trajectory(distributed_run):
    _, _, losses = distributed_run
    one, two = np.array(losses["none"]), np.array(losses["data_parallel"])
    assert one.shape == (10,)  # 2 epochs x 5 batches of 4 pairs
    assert np.ptp(one) > 0.5, "training should move the loss"
    np.testing.assert_allclose(two, one, rtol=1e-4)


@distributed_backends
def test_two_processes_write_identical_weights_equal_to_two_devices(runs):
    _, root = runs
    workers = [read_weights(root / f"worker{i}" / "final.weights.h5") for i in range(2)]
    devices = read_weights(root / "devices" / "data_parallel" / "final.weights.h5")
    assert workers[0].keys() == workers[1].keys() == devices.keys()
    for name in devices:
        np.testing.assert_array_equal(workers[1][name], workers[0][name], err_msg=name)
    if BACKEND == "jax":  # the same SPMD program, sharded over processes instead of devices
        for name in devices:
            np.testing.assert_array_equal(workers[0][name], devices[name], err_msg=name)
    else:
        # Collective all-reduce sums in another order than MirroredStrategy. Most
        # variables agree to 1e-5; biases feeding a batch norm have a zero gradient in
        # exact arithmetic, which Adam scales from rounding noise to +-lr a step
        # (measured: up to 2.3e-3 after 10 steps of lr 3e-3).
        diffs = {name: np.max(np.abs(workers[0][name] - devices[name]), initial=0) for name in devices}
        assert max(diffs.values()) < 1e-2, max(diffs.items(), key=lambda item: item[1])
        assert np.mean([d < 1e-4 for d in diffs.values()]) > 0.95
    history = [pd.read_csv(root / run / "history.csv") for run in ("worker0", "devices/data_parallel")]
    np.testing.assert_allclose(history[0]["loss"], history[1]["loss"], rtol=1e-5)


@distributed_backends
def test_a_single_process_evaluates_the_multi_worker_run_as_the_two_device_run_validated(runs, capsys):
    experiment, root = runs
    code = cli.main(["evaluate", "--config", str(experiment), "--set", f"output_dir={root / 'worker0'}",
                     "--split", "val", "--quiet"])
    assert code == 0, capsys.readouterr().err
    recalls = ["i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR"]
    result = pd.read_csv(root / "worker0" / "results_val_roam.csv").iloc[0]
    history = pd.read_csv(root / "devices" / "data_parallel" / "history.csv")
    best = history.loc[history["val_mR"].idxmax()]  # the epoch whose weights the preset holds
    np.testing.assert_allclose([result[r] for r in recalls], [best[f"val_{r}"] for r in recalls], atol=0.01)


@distributed_backends
def test_checkpoint_saved_under_distribution_loads_on_one_device(distributed_run):
    data_root, out, _ = distributed_run
    run_dir = os.path.join(out, "data_parallel")
    config = tiny_config(data_root, run_dir, model=WORKER_MODEL)
    probe = np.load(os.path.join(out, "probe.npz"))
    for weights in ("best.weights.h5", "model.keras"):
        model = load_retriever(os.path.join(run_dir, weights), config)
        images = model.encode_image(probe["images"])
        texts = model.encode_text(probe["token_ids"])
        np.testing.assert_allclose(ops.convert_to_numpy(images["global"]), probe["image_global"], atol=1e-5)
        np.testing.assert_allclose(ops.convert_to_numpy(texts["global"]), probe["text_global"], atol=1e-5)
        np.testing.assert_allclose(model.score(images, texts), probe["score"], atol=1e-5)


@distributed_backends
def test_a_batch_that_does_not_split_is_refused_before_anything_is_written(distributed_run):
    _, out, losses = distributed_run
    assert "batch_size 3 does not split evenly over 2 devices" in losses["uneven_error"]
    assert not os.path.exists(os.path.join(out, "uneven"))


@pytest.mark.skipif(BACKEND != "torch", reason="the refusal is torch's")
@pytest.mark.parametrize("distribution", ["data_parallel", "multi_worker"])
def test_torch_refuses_distributed_training_with_a_clear_error(tmp_path, capsys, distribution):
    make_prepared(tmp_path / "data")
    config = tiny_config(str(tmp_path / "data"), str(tmp_path / "run"))
    config_file = tmp_path / "experiment.yaml"
    config_file.write_text(yaml.safe_dump(config.to_dict()))
    code = cli.main(["train", "--config", str(config_file), "--distribution", distribution])
    error = capsys.readouterr().err
    assert code == 2
    assert error.count("\n") == 1 and f"distribution {distribution!r}" in error
    assert "jax" in error and "tensorflow" in error and "'torch'" in error
    assert not (tmp_path / "run").exists()
