"""Serving: SavedModel export of the enhancer and the HNN for TF Serving (`export`; the request
layout and a client: export/README.md)."""
