"""Runs exported signatures as a server would: TensorFlow only, with sgan_tf and keras unimportable.

  python serving_child.py JOBS.json

JOBS.json is a list of {"model": version folder, "signature": name, "inputs": {name: .npy},
"outputs": folder}; each output is saved as <outputs>/<name>.npy. Prints the sgan_tf/keras
modules that got loaded anyway as JSON (none, or the import guard failed).
"""

import json
import os
import sys

BLOCKED = ("sgan_tf", "keras")
# None in sys.modules makes `import name` (and its submodules) raise ImportError, and
# importlib.util.find_spec(name) return None, as if the package were not installed (TensorFlow
# probes for keras that way and carries on without it).
for _name in BLOCKED:
    sys.modules[_name] = None

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(jobs_file: str) -> None:
    with open(jobs_file) as f:
        jobs = json.load(f)
    for job in jobs:
        signature = tf.saved_model.load(job["model"]).signatures[job["signature"]]
        outputs = signature(**{k: tf.constant(np.load(v)) for k, v in job["inputs"].items()})
        os.makedirs(job["outputs"], exist_ok=True)
        for name, value in outputs.items():
            np.save(os.path.join(job["outputs"], f"{name}.npy"), value.numpy())
    print(json.dumps(sorted(m for m, v in sys.modules.items() if m.split(".")[0] in BLOCKED and v is not None)))


if __name__ == "__main__":
    main(sys.argv[1])
