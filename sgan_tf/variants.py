"""The input variants of the paper's comparison (Table 1 rows): the one list of them.

A variant is a way to make the 3-channel composite a segmenter sees, and the enhancement
`enhance_main` writes: OG in the first channel, then what the variant's networks make of it.
Each entry names its Table 1 row, the models it needs (by their names in
`sgan_tf.pretrained.NAMES`, i.e. the `--<name>_model` flags) and where they run: before the
per-lesion zoom (denoisers, at the ROI's native resolution) or after it (G2, the single GAN).
`enhance.Enhancer.for_variant` builds any entry's stages from these names. Every flag enum,
table, docstring list and default derives from `VARIANTS`; adding a variant is one entry here
(and its stage code, if new). `REFERENCE` is the row every other is compared with.

BM3D is optional (the `bm3d` package); without it the `bm3d` variant runs non-local means and
its row is named by what ran, `nlm` (OG+NLM), never BM3D.
"""

from __future__ import annotations

import dataclasses

from sgan_tf import pretrained
from sgan_tf.errors import UserError

BEFORE_ZOOM, AFTER_ZOOM = "before", "after"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One comparison row: its name, label, channels and the models each zoom side runs."""

    name: str
    row: str  # the Table 1 label
    channels: str  # what the composite holds, for docs
    output: str  # what its enhanced channel is, e.g. in a derived DICOM's series description
    before_zoom: str | None = None  # a model name, or a classical denoiser (CLASSICAL)
    after_zoom: str | None = None  # a model name

    @property
    def needs(self) -> tuple[str, ...]:
        """The trained models (pretrained.NAMES) this variant loads."""
        return tuple(m for m in (self.before_zoom, self.after_zoom) if m in pretrained.NAMES)

    @property
    def exportable(self) -> bool:
        """Whether every stage is a TF model (a SavedModel can hold it)."""
        return bool(self.needs) and self.before_zoom not in CLASSICAL


CLASSICAL = ("bm3d",)  # stages that are classical filters (sgan_tf/baselines.py), not models
VARIANTS = {v.name: v for v in (
    Variant("og", "OG", "OG, OG, OG", "original"),
    Variant("bm3d", "OG+BM3D", "OG, BM3D, BM3D", "BM3D denoised", before_zoom="bm3d"),
    Variant("dncnn", "OG+DnCNN", "OG, DnCNN, DnCNN", "DnCNN denoised", before_zoom="dncnn"),
    Variant("gan", "OG+GAN", "OG, single GAN, single GAN", "single-GAN enhanced", after_zoom="single"),
    Variant("gan1", "OG+GAN1", "OG, G1, G1", "GAN1 denoised", before_zoom="denoise"),
    Variant("sgan", "OG+SGAN", "OG, G1, G2", "SGAN enhanced", before_zoom="denoise", after_zoom="enhance"),
)}
NAMES = tuple(VARIANTS)  # Table 1's row order
DEFAULT = "sgan"
REFERENCE = "og"  # the unenhanced input: significance columns compare every row with it
EXPORTABLE = tuple(n for n, v in VARIANTS.items() if v.exportable)
# Rows named by what ran: BM3D's NL-means stand-in.
FALLBACKS = {"nlm": Variant("nlm", "OG+NLM", "OG, NL-means, NL-means", "NL-means denoised", before_zoom="bm3d")}
ROW_NAMES = {name: v.row for name, v in {**VARIANTS, **FALLBACKS}.items()}


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserError(f"variant {name!r}: use one of {', '.join(NAMES)}")
    return VARIANTS[name]


def output_name(name: str) -> str:
    """What the enhanced channel of the variant (or fallback row) that ran is."""
    return {**VARIANTS, **FALLBACKS}[name].output


DERIVED_DESCRIPTION = "sgan-tf"  # the SeriesDescription of a derived DICOM series, and its prefix


def series_description(name: str) -> str:
    """The description of a derived series (DICOM) holding the variant's enhanced images."""
    return f"{DERIVED_DESCRIPTION} {output_name(name)}"


def available(models: dict[str, str | None]) -> list[str]:
    """The variants whose models `models` (name -> flag value) give or the package ships, in
    Table 1's row order."""
    return [n for n, v in VARIANTS.items() if all(pretrained.resolve(models.get(m), m) for m in v.needs)]

