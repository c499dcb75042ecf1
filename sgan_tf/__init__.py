"""sgan-tf: stacked-GAN CT image enhancement (Tang, Cai et al., MICCAI-W 2018) in TF 2 / Keras 3."""

__version__ = "0.1.0"
