"""sgan-tf: stacked-GAN CT image enhancement (Tang, Cai et al., MICCAI-W 2018) in TF 2 / Keras 3.

The names a user needs, from a CT file to the enhanced CT written back in the input's format
(NIfTI, MetaImage, DICOM, 16-bit HU PNG) with its geometry:

    import sgan_tf
    ct = sgan_tf.load_ct("ct.nii.gz")                        # HU [Z, H, W] with its geometry
    sgan_tf.Enhancer.pretrained()(ct).save("enhanced.nii.gz")  # the shipped G1 + G2

- `load_ct`, `CTImage` (sgan_tf/ct_image.py): one CT slice or volume from a file or a DICOM
  series folder; `CTImage.save` writes it back.
- `Enhancer`, `EnhanceResult` (sgan_tf/enhance.py): the stacked enhancement of one variant,
  of a [H, W] slice, a batch or volume [N, H, W], or a `CTImage`.
- `Window`, `WINDOWS` (sgan_tf/data/ct.py): HU windows (the network scale's is soft tissue).
- `segment_lesion` (sgan_tf/segment/lesion.py): the mask of a lesion on a HU slice from its RECIST
  marks (GrabCut, or an HNN), on the composite of a variant's enhancement.

Names are imported when first used, so `import sgan_tf` stays light (no TensorFlow until an
`Enhancer` is needed). A runnable version of the three lines, on a synthetic volume:

>>> import os, tempfile
>>> import nibabel as nib, numpy as np
>>> import sgan_tf
>>> folder = tempfile.mkdtemp()
>>> noisy = np.random.default_rng(0).normal(40, 25, (3, 64, 64))  # 3 axial slices [z, y, x], HU
>>> voxel_to_ras = np.diag([-0.7, -0.7, 5.0, 1.0])  # 0.7 mm pixels, 5 mm slices
>>> nib.save(nib.Nifti1Image(noisy.T.astype(np.int16), voxel_to_ras), os.path.join(folder, "ct.nii.gz"))
>>> ct = sgan_tf.load_ct(os.path.join(folder, "ct.nii.gz"))
>>> ct
CTImage(volume [3, 64, 64], spacing (0.7, 0.7) mm, source ct.nii.gz)
>>> sgan_tf.Enhancer.pretrained()(ct).save(os.path.join(folder, "enhanced.nii.gz"))
>>> enhanced = sgan_tf.load_ct(os.path.join(folder, "enhanced.nii.gz"))
>>> enhanced.shape, bool(np.allclose(enhanced.affine, ct.affine)), bool(enhanced.hu.std() < ct.hu.std())
((3, 64, 64), True, True)
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {  # name -> the module that defines it; a new export is one line here
    "CTImage": "sgan_tf.ct_image",
    "load_ct": "sgan_tf.ct_image",
    "Enhancer": "sgan_tf.enhance",
    "EnhanceResult": "sgan_tf.enhance",
    "Window": "sgan_tf.data.ct",
    "WINDOWS": "sgan_tf.data.ct",
    "segment_lesion": "sgan_tf.segment.lesion",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """An exported name, imported from its module on first use (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sgan_tf' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
