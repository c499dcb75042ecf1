"""Model factories with the paper's defaults; overrides build tiny models for tests."""

from __future__ import annotations

from collections.abc import Sequence

from sgan_tf.models.discriminator import PAPER_FILTERS, PAPER_STRIDES, Discriminator
from sgan_tf.models.dncnn import PAPER_DEPTH, DnCNN, FoldedDnCNN, fold_dncnn
from sgan_tf.models.generator import Generator, ResidualBlock
from sgan_tf.models.inference import FoldedGenerator, fold_generator

__all__ = [
    "Discriminator",
    "DnCNN",
    "FoldedDnCNN",
    "FoldedGenerator",
    "Generator",
    "ResidualBlock",
    "denoise_generator",
    "discriminator",
    "dncnn",
    "enhance_generator",
    "fold_dncnn",
    "fold_generator",
    "generator",
]

DENOISE_BLOCKS = 9
ENHANCE_BLOCKS = 16


def generator(num_blocks: int, filters: int = 64, **kwargs) -> Generator:
    return Generator(num_blocks=num_blocks, filters=filters, **kwargs)


def denoise_generator(num_blocks: int = DENOISE_BLOCKS, filters: int = 64, **kwargs) -> Generator:
    """G1: 9 residual blocks of 64 filters."""
    return Generator(num_blocks=num_blocks, filters=filters, name="denoise_generator", **kwargs)


def enhance_generator(num_blocks: int = ENHANCE_BLOCKS, filters: int = 64, **kwargs) -> Generator:
    """G2: 16 residual blocks of 64 filters, no sub-pixel layers (input is pre-zoomed)."""
    return Generator(num_blocks=num_blocks, filters=filters, name="enhance_generator", **kwargs)


def dncnn(depth: int = PAPER_DEPTH, filters: int = 64, **kwargs) -> DnCNN:
    """DnCNN-S/B baseline: 17 layers of 64 filters, residual learning."""
    return DnCNN(depth=depth, filters=filters, **kwargs)


def discriminator(
    patch_size: int,
    filters: Sequence[int] = PAPER_FILTERS,
    strides: Sequence[int] = PAPER_STRIDES,
    dense_units: int = 1024,
) -> Discriminator:
    """D1 (patch_size=32) or D2 (patch_size=128)."""
    return Discriminator(patch_size, filters=filters, strides=strides, dense_units=dense_units)
