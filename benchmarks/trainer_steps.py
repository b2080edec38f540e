"""Time per optimiser step of every trainer in conf/trainer/, on Colored-MNIST-shaped data.

Prints one JSON document. Two settings: DomainBed's MNIST protocol (3 environments x 64 images of 2x28x28 per step,
the small CNN of DomainBed's MNIST experiments, ``SmallCNN(width=64)``) and the IRM paper's Colored MNIST MLP
(2 environments x 25,000 images of 2x14x14, full batch, hidden 390). Each trainer is fitted for two warm-up steps,
then ``update(batches)`` is timed on fixed batches: the minimum over ``--repeats`` steps (2 torch threads).
Reference on this machine (DomainBed's own implementation, minimum over runs): ERM, IRM, V-REx, GroupDRO, CORAL,
MMD about 260-275 ms per step; Fishr with BackPACK about 605 ms. DomainBed cannot be installed here, so the script
also times, beside ours and on the same batches, a plain-torch ERM step of the same network written without
causalphys (``plain_torch_erm_cnn_ms``): what is left between our ERM and that floor is our code's; what is left
between the floor and DomainBed's number is the machine's and torch's.

    .venv/bin/python benchmarks/trainer_steps.py [--repeats 10] [--skip-mlp] [--device cpu]

``--device cuda`` fits and times every trainer (and the plain-torch floor) on a GPU, the time taken after
``torch.cuda.synchronize``: the check that every trainer runs there.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from hydra.utils import instantiate

import causalphys as cp
from causalphys.run import CONF_DIR, trainer_config

CONF = CONF_DIR / "trainer"


def trainers() -> dict[str, dict]:
    """Every learner of conf/trainer/ as a run composes it, without its search space and views block (the
    benchmark's, not the step's); ``oracle`` is ERM on other data and ``_base`` the shared keys: left out
    (content_style's pairs and the physics learners' views: mirrored copies of the inputs, in time_steps)."""
    out = {}
    for path in sorted(CONF.glob("*.yaml")):
        if path.stem.startswith("_") or path.stem == "oracle":
            continue
        cfg = trainer_config(path.stem)
        cfg.pop("search_space", None)
        cfg.pop("views", None)
        out[path.stem] = cfg
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(cfg: dict, net_factory, data: dict, batch_size, repeats: int, device: torch.device) -> float:
    trainer = instantiate({**cfg, "steps": 2, "batch_size": batch_size, "progress": False, "device": str(device)})
    if trainer.needs_pairs:
        trainer.fit(net_factory(), data, pairs={e: [x, x.flip(-1)] for e, (x, _) in data.items()})
    elif trainer.needs_views:  # each unit and its mirror image as two views
        trainer.fit(net_factory(), data, views={e: (torch.stack([x, x.flip(-1)], 1), y) for e, (x, y) in data.items()})
    else:
        trainer.fit(net_factory(), data)
    batches = [(x[: batch_size or len(x)], y[: batch_size or len(y)]) for x, y in data.values()]
    if trainer.needs_views:  # (units, views_per_step, ...): the same images per unit
        views = trainer.views_per_step
        batches = [(torch.stack([x] * views, 1), y) for x, y in batches]
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        trainer.update(batches)
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def plain_torch_step_ms(data: dict, batch_size: int, repeats: int, device: torch.device) -> float:
    """The floor our ERM is measured against, written without causalphys: the same network from ``torch.nn``
    layers (four 3x3 conv blocks with ReLU and GroupNorm(8), 64-128-128-128 channels, the second conv with stride
    2, global average pool, a linear head), Adam at lr 1e-3, the cross-entropy of the three environments' batches
    concatenated, ``zero_grad``, ``backward``, ``step`` — the least an ERM step must do. Same batches, same
    minimum over ``repeats`` steps."""
    torch.manual_seed(0)
    channels, layers = [2, 64, 128, 128, 128], []
    for c_in, c_out, stride in zip(channels[:-1], channels[1:], (1, 2, 1, 1)):
        layers += [
            torch.nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1),
            torch.nn.ReLU(),
            torch.nn.GroupNorm(8, c_out),
        ]
    net = torch.nn.Sequential(*layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(1), torch.nn.Linear(128, 2))
    net = net.to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.cat([x[:batch_size] for x, _ in data.values()])
    y = torch.cat([y[:batch_size] for _, y in data.values()])

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(2):  # warm-up, as for the trainers
        step()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-mlp", action="store_true")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:k]")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    cnn_data = {
        f"e{i}": (torch.rand(64, 2, 28, 28, generator=gen), torch.randint(0, 2, (64,), generator=gen)) for i in range(3)
    }
    cnn_data = {k: (x.to(device), y.to(device)) for k, (x, y) in cnn_data.items()}
    mlp_data = {
        f"e{i}": (torch.rand(25_000, 2, 14, 14, generator=gen), torch.randint(0, 2, (25_000,), generator=gen))
        for i in range(2)
    }
    mlp_data = {k: (x.to(device), y.to(device)) for k, (x, y) in mlp_data.items()}
    rows = {}
    for name, cfg in trainers().items():
        row = {"cnn_ms": 1e3 * time_steps(cfg, lambda: cp.nets.SmallCNN(2, 2), cnn_data, 64, args.repeats, device)}
        if not args.skip_mlp:
            mlp = lambda: cp.nets.MLP((2, 14, 14), 1, hidden=(390, 390), init="xavier")  # noqa: E731
            row["mlp_full_batch_ms"] = 1e3 * time_steps(cfg, mlp, mlp_data, None, max(2, args.repeats // 3), device)
        rows[name] = row
    erm = rows["erm"]["cnn_ms"]
    floor = 1e3 * plain_torch_step_ms(cnn_data, 64, args.repeats, device)
    print(
        json.dumps(
            {
                "machine": {
                    "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                    "torch": torch.__version__,
                    "threads": args.threads,
                    "cpu_count": os.cpu_count(),
                    "load_average_1min": os.getloadavg()[0],
                },
                "rows": rows,
                "plain_torch_erm_cnn_ms": floor,
                "erm_over_plain_torch": erm / floor,
                "reference_domainbed_cnn_ms": {"erm_irm_vrex_groupdro_coral_mmd": [260, 275], "fishr_backpack": 605},
                "penalty_over_erm_cnn": {k: v["cnn_ms"] / erm for k, v in rows.items()},
                "goal": "every trainer <= DomainBed's time; no penalty trainer above 1.2x our ERM",
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
