"""Windowed datasets, labels, losses, the one training loop and time-series CV."""
