"""Evaluation: the paper's segmentation experiment (`experiment`), its tables and writers
(`tables`), the denoising tables (`denoise`) and the faithfulness of enhancement against
noise-free images (`faithfulness`). Scores themselves: sgan_tf/metrics.py."""
