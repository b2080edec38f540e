"""Environments (SCM or real files) turned into tensors and torch Datasets."""

from causalphys.data.tensors import environment_tensors, standardize_images

__all__ = ["environment_tensors", "standardize_images"]
