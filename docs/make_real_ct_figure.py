"""Draws sgan_tf/pretrained/real_ct.png: the shipped models on a real CT slice.

A slice of the real upper-abdomen series in `../shared/data/real_ct/totalseg_dicom` (Siemens,
120 kV, CTDIvol 18.5 mGy, as acquired, no noise added): the series' first validation slice of the
CT pair source (`ct_pairs.VAL_EVERY`), so no shipped model trained on it. Top row: the whole
slice, OG | denoised (G1) | enhanced (G1 then G2) at zoom 1; bottom row: a 128 px ROI at the
liver's edge at zoom 2, as for a lesion. Soft-tissue window (W 400, L 40).

  python docs/make_real_ct_figure.py [--real_ct_dir=../shared/data/real_ct] [--output=PATH]
"""

from __future__ import annotations

import argparse
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cv2
import numpy as np

from sgan_tf.data import dicom
from sgan_tf.data.ct_pairs import VAL_EVERY
from sgan_tf.data.ct import WINDOWS
from sgan_tf.enhance import Enhancer

PANEL = 384
ROI = (slice(150, 278), slice(80, 208))  # rows, columns of the liver in that slice


def _panel(hu: np.ndarray, title: str) -> np.ndarray:
    gray = np.rint(255 * WINDOWS["soft_tissue"].to_unit(hu)).astype(np.uint8)
    gray = cv2.resize(gray, (PANEL, PANEL), interpolation=cv2.INTER_CUBIC)
    cv2.putText(gray, title, (8, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.6, 255, 1, cv2.LINE_AA)
    return gray


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--real_ct_dir", default=os.path.join(os.path.dirname(REPO), "shared", "data", "real_ct"))
    parser.add_argument("--output", default=os.path.join(REPO, "sgan_tf", "pretrained", "real_ct.png"))
    args = parser.parse_args()
    paths = dicom.sort_slices(dicom.find_dicom_files(os.path.join(args.real_ct_dir, "totalseg_dicom")))
    hu = dicom.read_dicom(paths[VAL_EVERY - 1]).hu
    enhancer = Enhancer.pretrained()
    rows = []
    for image, zoom, label in ((hu, 1.0, "slice"), (hu[ROI], 2.0, "liver ROI x2")):
        result = enhancer(image, zoom)
        rows.append(np.hstack([_panel(result.og_hu, f"OG ({label})"), _panel(result.denoised_hu, "denoised (G1)"),
                               _panel(result.enhanced_hu, "enhanced (G1+G2)")]))
    if not cv2.imwrite(args.output, np.vstack(rows)):
        raise SystemExit(f"could not write {args.output}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
