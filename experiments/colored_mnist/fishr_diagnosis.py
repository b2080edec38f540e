"""Fishr on Colored MNIST step by step after the switch: the penalty, the risk and the test accuracy.

Trains Fishr (IRM's reference hyper-parameters, full batch, no moving average) for the 190 steps with lambda = 1,
then prints the loss terms and the test accuracy every 5 updates for 60 more. ``--reduction mean`` (DomainBed's
averaged distance, the default here) shows the net frozen at ERM's solution; ``--reduction sum`` (the Fishr
authors' script) shows it move. ``--restart`` rebuilds Adam at the switch (DomainBed's habit; the reference script
does not).

    .venv/bin/python experiments/colored_mnist/fishr_diagnosis.py [--reduction mean|sum] [--restart] [--mnist PATH]
"""

import argparse
import os
from pathlib import Path

import causalphys as cp

DEFAULT_MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist" / "mnist.npz"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restart", action="store_true")
    parser.add_argument("--reduction", choices=("mean", "sum"), default="mean")
    parser.add_argument("--updates", type=int, default=60)
    parser.add_argument("--mnist", type=Path, default=Path(os.environ.get("CAUSALPHYS_MNIST", DEFAULT_MNIST)))
    args = parser.parse_args(argv)
    images, digits = cp.data.load_mnist(args.mnist)
    envs = cp.data.colored_mnist_environments(images, digits, seed=0)
    train = {k: envs[k] for k in ("train_0.2", "train_0.1")}
    net = cp.nets.MLP(in_features=(2, 14, 14), n_outputs=1, hidden=(390, 390), init="xavier")
    trainer = cp.trainers.Fishr(
        ema=0.0,
        reduction=args.reduction,
        lr=0.0004898536566546834,
        l2=0.00110794568,
        steps=190,
        batch_size=None,
        seed=0,
        progress=False,
        penalty_weight=91257.18613115903,
        penalty_anneal_steps=190,
        restart_optimizer=args.restart,
    ).fit(net, train)
    x_test, y_test = envs["test_0.9"]
    batches = list(train.values())
    for k in range(args.updates):
        metrics = trainer.update(batches)
        trainer.step_ += 1
        if k % 5 == 0:
            accuracy = ((trainer.predict(x_test)[:, 0] > 0).long() == y_test).float().mean().item()
            print(k, {name: f"{value:.3g}" for name, value in metrics.items()}, f"test {accuracy:.3f}", flush=True)


if __name__ == "__main__":
    main()
