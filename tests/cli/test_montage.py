"""The scanner montage (make demo's figure): one intensity scale for every panel, with its colour bar."""

import numpy as np

from causalphys.cli.montage import montage_figure


def test_every_panel_shares_one_intensity_scale_and_the_figure_has_its_colour_bar():
    """Each panel was scaled to its own range (a noisy panel and a clean one looked alike); now one scale of the
    standardised intensity serves all 16 panels, and the colour bar says what it is."""
    fig = montage_figure(seed=0)
    panels = [ax for ax in fig.axes if ax.images]
    limits = {tuple(np.round(ax.images[0].get_clim(), 9)) for ax in panels}
    assert len(panels) == 16 and len(limits) == 1
    low, high = limits.pop()
    assert low < 0 < high  # standardised images: the mean is 0
    bars = [ax for ax in fig.axes if not ax.images and "standardised intensity" in ax.get_ylabel()]
    assert len(bars) == 1
