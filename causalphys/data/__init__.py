"""Environments (SCM or real files) turned into tensors and torch Datasets."""

from causalphys.data.benchmark import Benchmark, BenchmarkData, DataRequest, EnvironmentInfo
from causalphys.data.colored_mnist import (
    ColoredMNISTBenchmark,
    colored_mnist_environments,
    colored_mnist_scm,
    load_mnist,
)
from causalphys.data.image_benchmark import ImageBenchmark
from causalphys.data.nonlinear_ica import NonlinearICA, nonlinear_ica
from causalphys.data.readers import Recording, read_image
from causalphys.data.scm_benchmark import SCMBenchmark
from causalphys.data.tensors import environment_tensors, standardize_images

__all__ = [
    "Benchmark",
    "DataRequest",
    "BenchmarkData",
    "ColoredMNISTBenchmark",
    "EnvironmentInfo",
    "ImageBenchmark",
    "NonlinearICA",
    "Recording",
    "SCMBenchmark",
    "TabularBenchmark",
    "colored_mnist_environments",
    "colored_mnist_scm",
    "environment_tensors",
    "load_mnist",
    "nonlinear_ica",
    "read_image",
    "standardize_images",
]


def __getattr__(name: str):
    if name == "TabularBenchmark":  # imported on first use: it needs pandas, which most runs do not
        from causalphys.data.tabular import TabularBenchmark

        return TabularBenchmark
    raise AttributeError(f"module 'causalphys.data' has no attribute {name!r}")
