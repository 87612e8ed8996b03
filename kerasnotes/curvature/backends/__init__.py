"""Backend-specific autodiff: the only place in kerasnotes that imports TF, JAX or torch."""
