"""One full-batch MMD step on the Colored MNIST MLP (2 environments x 25,000 images of 2x14x14, hidden 390): time
and peak resident memory. The kernel between two 25,000-unit environments has 625 M entries per bandwidth; before
the blockwise kernel mean (``causalphys.trainers.penalties.kernel_mean``) this step was killed for memory.

    .venv/bin/python benchmarks/mmd_full_batch.py [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import torch

import causalphys as cp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = {
        f"e{i}": (torch.rand(25_000, 2, 14, 14, generator=g), torch.randint(0, 2, (25_000,), generator=g))
        for i in range(2)
    }
    trainer = cp.trainers.MMD(steps=1, batch_size=None, progress=False)
    trainer.fit(cp.nets.MLP((2, 14, 14), 1, hidden=(390, 390), init="xavier"), data)
    start = time.perf_counter()
    trainer.update(list(data.values()))
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "machine": {
                    "torch": torch.__version__,
                    "threads": args.threads,
                    "load_average_1min": os.getloadavg()[0],
                },
                "mmd_full_batch_step_s": seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
