"""Tests of sgan_tf/precision.py: the training policies and the inference dtype choice."""

import keras
import pytest

from sgan_tf import precision


def test_policy_applies_inside_and_restores_the_previous_one():
    before = keras.config.dtype_policy().name
    with precision.policy("mixed_bfloat16"):
        assert keras.layers.Dense(2).dtype_policy.compute_dtype == "bfloat16"
    assert keras.config.dtype_policy().name == before
    with pytest.raises(ValueError, match="unknown precision 'half'"):
        with precision.policy("half"):
            pass


@pytest.mark.parametrize("native, expected", [(True, "bfloat16"), (False, "float32")])
def test_auto_is_bf16_only_where_it_is_native(monkeypatch, native, expected):
    monkeypatch.setattr(precision, "native_bf16", lambda: native)
    assert precision.inference_dtype() == precision.inference_dtype("auto") == expected
    assert precision.inference_dtype("float32") == "float32"
    assert precision.inference_dtype("bfloat16") == "bfloat16"
    with pytest.raises(ValueError, match="unknown inference precision 'fp16'"):
        precision.inference_dtype("fp16")


def test_defaults_are_choices_and_exports_stay_fp32():
    assert precision.INFERENCE_DEFAULT in precision.INFERENCE_PRECISIONS
    assert precision.SERVING_DEFAULT == "float32"


def test_importing_it_does_not_import_tensorflow():
    import subprocess
    import sys

    code = "import sys, sgan_tf.precision; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
