"""Keras callbacks that watch the optimisation: ``import kerasnotes.callbacks``."""
