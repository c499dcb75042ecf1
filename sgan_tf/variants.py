"""The input variants of the paper's comparison (Table 1 rows): the one list of them.

A variant is a way to make the 3-channel composite a segmenter sees, and the enhancement
`enhance_main` writes: OG in the first channel, then what the variant's networks make of it.
Each entry names its Table 1 row, the models it needs (by their names in
`sgan_tf.pretrained.NAMES`, i.e. the `--<name>_model` flags) and where they run: before the
per-lesion zoom (denoisers, at the ROI's native resolution) or after it (G2, the single GAN).
Every flag enum, table, docstring list and default derives from `VARIANTS`; adding a variant
is one entry here (and its stage code, if new).
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
    before_zoom: str | None = None  # a model name, or a classical denoiser ("bm3d")
    after_zoom: str | None = None  # a model name

    @property
    def needs(self) -> tuple[str, ...]:
        """The trained models (pretrained.NAMES) this variant loads."""
        return tuple(m for m in (self.before_zoom, self.after_zoom) if m in pretrained.NAMES)


VARIANTS = {v.name: v for v in (
    Variant("og", "OG", "OG, OG, OG"),
    Variant("bm3d", "OG+BM3D", "OG, BM3D, BM3D", before_zoom="bm3d"),
    Variant("dncnn", "OG+DnCNN", "OG, DnCNN, DnCNN", before_zoom="dncnn"),
    Variant("gan", "OG+GAN", "OG, single GAN, single GAN", after_zoom="single"),
    Variant("gan1", "OG+GAN1", "OG, G1, G1", before_zoom="denoise"),
    Variant("sgan", "OG+SGAN", "OG, G1, G2", before_zoom="denoise", after_zoom="enhance"),
)}
NAMES = tuple(VARIANTS)  # Table 1's row order
DEFAULT = "sgan"
FALLBACK_ROWS = {"nlm": "OG+NLM"}  # rows named by what ran: BM3D's NL-means stand-in
ROW_NAMES = {**{v.name: v.row for v in VARIANTS.values()}, **FALLBACK_ROWS}


def get(name: str) -> Variant:
    if name not in VARIANTS:
        raise UserError(f"variant {name!r}: use one of {', '.join(NAMES)}")
    return VARIANTS[name]


def markdown_table() -> str:
    """The variants as a Markdown table (for docs and help texts)."""
    lines = ["| variant | row | channels | models |", "|---|---|---|---|"]
    for v in VARIANTS.values():
        lines.append(f"| `{v.name}` | {v.row} | {v.channels} | {', '.join(v.needs) or '-'} |")
    return "\n".join(lines)
