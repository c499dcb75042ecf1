"""Lesion segmentation: RECIST trimap + GrabCut, and the HNN.

`METHODS` is the one list of segmentation methods (name -> table label): segment_main's
--method, the tables' columns and the experiment derive from it; each method's class and when it
can run are in segmenters.py (`segmenters_for`).
"""

METHODS = {"grabcut": "GrabCut", "hnn": "HNN"}
HNN_THRESHOLD = 0.5  # an HNN's mask: where its probability reaches this (training, segmentation, export)
