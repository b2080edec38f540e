"""A recorded SrTiO3 ADF image re-imaged as worse instruments would have recorded it: a lower dose, a broader probe,
more drift, a scan-calibration error, and all of them together — interventions on the SCM whose root is the
recording (``causalphys.microscopy.recorded_scm``). Rows: the images, their centres, and their Fourier transforms,
each row on one shared intensity scale.

    .venv/bin/python experiments/reimaging/make_figure.py [--stem PATH] [--seed 0] [--out experiments/reimaging]

The recording is read from ``--stem``, else ``$CAUSALPHYS_STEM``, else ``../shared/data/stem/srtio3_adf.hdf5``
beside the repository (a HyperSpy HDF5 file whose pixel size is stored in nm).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import h5py
import matplotlib
import numpy as np
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from causalphys.microscopy import RecordedInstrument, recorded_scm  # noqa: E402

HERE = Path(__file__).resolve().parent
DEFAULT_STEM = HERE.parents[1].parent / "shared" / "data" / "stem" / "srtio3_adf.hdf5"
DOSE = 2000.0  # e⁻/Å²
PROBE = 0.8  # Å
DRIFT = 4.0  # Å/s along the fast axis
SCALE = 0.05  # fast-axis scale error


def read_stem(path: Path) -> tuple[torch.Tensor, float]:
    """The image ``(H, W)`` and its pixel size in Å (the file stores nm, without saying so)."""
    with h5py.File(path, "r") as f:
        image = torch.from_numpy(f["Experiments/__unnamed__/data"][()].astype(np.float32))
        return image, 10.0 * float(f["Experiments/__unnamed__/axis-0"].attrs["scale"])


def versions(image: torch.Tensor, instrument: RecordedInstrument, seed: int) -> list[tuple[str, np.ndarray]]:
    """``(title, image)`` for the recording and each re-imaging. A lower dose keeps the detector's gain, so its
    image is dimmer by ``D / D_rec``; here the gain is raised by as much (and the ceiling lifted) so that one
    intensity scale shows them all, as an operator would set the brightness."""
    scm = recorded_scm(image, instrument)
    bright = {"gain": instrument.gain * instrument.dose / DOSE, "saturation": 65504.0}
    settings = [
        (f"dose {DOSE:g} e⁻/Å²\n(gain ×{instrument.dose / DOSE:.0f})", {"dose": DOSE, **bright}),
        (f"probe σ {PROBE:g} Å", {"probe_sigma": PROBE}),
        (
            f"drift {DRIFT:g} Å/s along x\n(frame {image.shape[0] * (image.shape[1] * 1e-5 + 5e-5):.2f} s)",
            {"drift_speed": DRIFT},
        ),
        (f"scale error x +{100 * SCALE:g} %", {"scale_error_x": SCALE}),
        ("all together", {"dose": DOSE, **bright, "probe_sigma": PROBE, "drift_speed": DRIFT, "scale_error_x": SCALE}),
    ]
    out = [
        (
            f"recorded: σ {instrument.probe_sigma:.2f} Å,\n{instrument.dose:.2g} e⁻/Å² (noise-equivalent)",
            image.numpy(),
        )
    ]
    for title, do in settings:
        out.append((title, scm.do(**do).sample(1, seed=seed)["image"][0].numpy()))
    return out


def log_power(image: np.ndarray) -> np.ndarray:
    """``log10 |F[(x − x̄) w]|²`` with a Hann window, zero frequency in the centre."""
    window = np.hanning(image.shape[0])[:, None] * np.hanning(image.shape[1])[None, :]
    return np.log10(np.abs(np.fft.fftshift(np.fft.fft2((image - image.mean()) * window))) ** 2 + 1e-12)


def scale_bar(ax, pixel_size: float, length: float, shape: tuple[int, int]) -> None:
    """A bar of ``length`` Å in the lower left corner of an image of ``shape`` pixels."""
    h, w = shape
    pixels = length / pixel_size
    x0, y0 = 0.06 * w, 0.92 * h
    ax.plot([x0, x0 + pixels], [y0, y0], color="white", lw=3, solid_capstyle="butt")
    ax.text(x0 + pixels / 2, y0 - 0.03 * h, f"{length:g} Å", color="white", ha="center", va="bottom", fontsize=8)


def make_figure(stem: Path, out: Path, seed: int = 0) -> Path:
    image, pixel_size = read_stem(stem)
    instrument = RecordedInstrument.from_images(image, pixel_size)
    panels = versions(image, instrument, seed)
    h, w = image.shape
    crop = (slice(h // 2 - 54, h // 2 + 54), slice(w // 2 - 54, w // 2 + 54))  # 10 x 10 Å
    low, high = np.percentile(panels[0][1], [0.5, 99.5])
    spectra = [log_power(x) for _, x in panels]
    f_low, f_high = np.percentile(spectra[0], [50, 99.99])
    k_max = 0.75  # Å⁻¹ shown
    reach = int(round(k_max * pixel_size * min(h, w)))
    fig, axes = plt.subplots(3, len(panels), figsize=(3.0 * len(panels), 9.4), constrained_layout=True)
    for column, ((title, x), spectrum) in enumerate(zip(panels, spectra)):
        top, middle, bottom = axes[:, column]
        top.imshow(x, cmap="gray", vmin=low, vmax=high)
        top.set_title(title, fontsize=9)
        scale_bar(top, pixel_size, 5.0, x.shape)
        middle.imshow(x[crop], cmap="gray", vmin=low, vmax=high)
        scale_bar(middle, pixel_size, 2.0, x[crop].shape)
        cy, cx = spectrum.shape[0] // 2, spectrum.shape[1] // 2
        extent = np.array([-1, 1, 1, -1]) * reach / (pixel_size * min(h, w))
        bottom.imshow(
            spectrum[cy - reach : cy + reach, cx - reach : cx + reach],
            cmap="magma",
            vmin=f_low,
            vmax=f_high,
            extent=extent,
        )
        bottom.set_xlabel("k_x (Å⁻¹)", fontsize=8)
        for ax in (top, middle):
            ax.set_xticks([])
            ax.set_yticks([])
        bottom.tick_params(labelsize=7)
    axes[0, 0].set_ylabel(f"{h} x {w} px, {pixel_size:.4f} Å/px", fontsize=8)
    axes[1, 0].set_ylabel("centre, 10 x 10 Å", fontsize=8)
    axes[2, 0].set_ylabel("log power spectrum, k_y (Å⁻¹)", fontsize=8)
    fig.suptitle(f"SrTiO3 [110] ADF image re-imaged by interventions on its SCM ({instrument.describe()})", fontsize=10)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "reimaged.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stem", type=Path, default=Path(os.environ.get("CAUSALPHYS_STEM", DEFAULT_STEM)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    if not args.stem.is_file():
        parser.error(f"no recording at {args.stem}: pass --stem PATH or set CAUSALPHYS_STEM")
    print(f"wrote {make_figure(args.stem, args.out, args.seed)}")


if __name__ == "__main__":
    main()
