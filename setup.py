"""sgan-tf: stacked-GAN CT image enhancement (TensorFlow 2 / Keras 3).

Install with exactly one TensorFlow extra: `pip install -e ".[cpu]"` (tensorflow-cpu) or
`pip install -e ".[gpu]"` (tensorflow with CUDA libraries). See BUILD.md.
"""

from setuptools import find_packages, setup

TF_VERSION = "2.21.*"

setup(
    name="sgan-tf",
    version="0.1.0",
    description="Stacked GANs for CT lesion enhancement (Tang, Cai et al., MICCAI-W 2018) in TF 2 / Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=find_packages(include=["sgan_tf", "sgan_tf.*"]),
    # The shipped models (weights, configs, model cards, figure): sgan_tf/pretrained/<name>/; the
    # flag presets (--preset=NAME): sgan_tf/presets/*.flags.
    package_data={"sgan_tf.pretrained": ["*.md", "*.png", "*/*"], "sgan_tf.presets": ["*.flags"]},
    install_requires=[
        "keras>=3.10,<4",
        "tensorboard>=2.21,<2.22",
        "numpy>=1.26",
        "pydicom>=3.0",
        "opencv-python-headless>=4.9",
        "scikit-image>=0.24",
        "PyWavelets>=1.6",  # scikit-image's noise estimate (estimate_sigma) for BM3D / NL-means
        "absl-py>=2.1",
        "scipy>=1.13",
        # Progress bars of the binaries (sgan_tf/progress.py) on a terminal.
        "tqdm>=4.66",
        # NIfTI CT volumes (sgan_tf/data/volumes.py): 3.3 MB wheel, 13 MB installed (nibabel 5.4.2).
        "nibabel>=5.2",
        # DICOM-SEG lesion masks (sgan_tf/data/dicom_seg.py): 1.1 MB wheel, 27 MB installed, plus its
        # pyjpegls (8 MB) and importlib-resources (0.5 MB); tested with 0.28.2.
        "highdicom>=0.28",
    ],
    extras_require={
        "cpu": [f"tensorflow-cpu=={TF_VERSION}"],
        "gpu": [f"tensorflow[and-cuda]=={TF_VERSION}"],
        # Decoders for compressed DICOM (JPEG lossless, JPEG-LS, JPEG 2000, RLE); pylibjpeg-libjpeg
        # is GPL-3.0 licensed. The test extra includes them (a self-reference) so CI decodes them all.
        "dicom": ["pylibjpeg>=2.0", "pylibjpeg-libjpeg>=2.1", "pylibjpeg-openjpeg>=2.0", "pylibjpeg-rle>=2.0"],
        # pytest-xdist: the suite runs on every core (pytest.ini), one test file per worker at a time.
        "test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.6", "sgan-tf[dicom]"],
        # BM3D baseline; the bm3d package is free for non-commercial use only.
        "bm3d": ["bm3d>=4.0"],
    },
    entry_points={
        "console_scripts": [
            "train_main=sgan_tf.cli.train_main:run",
            "phantom_main=sgan_tf.cli.phantom_main:run",
            "enhance_main=sgan_tf.cli.enhance_main:run",
            "segment_main=sgan_tf.cli.segment_main:run",
            "eval_main=sgan_tf.cli.eval_main:run",
            "pipeline_main=sgan_tf.cli.pipeline_main:run",
            "export_main=sgan_tf.cli.export_main:run",
        ],
    },
)
