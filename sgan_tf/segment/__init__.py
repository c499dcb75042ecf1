"""Lesion segmentation: RECIST trimap + GrabCut, and the HNN."""
