"""Data sources and on-the-fly pair synthesis."""
