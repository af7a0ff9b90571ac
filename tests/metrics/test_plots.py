"""One ROC plotter: the supervised curves and the variant-effect panels both draw through metrics.plots."""

from __future__ import annotations

import numpy as np

from genomamba.metrics import plots


def test_roc_panels_and_boxes_write_pngs(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 100)
    s = rng.normal(size=100) + y
    panels = [("overall", [("a", y, s), ("b", y, -s)]), ("one class only", [("a", np.ones(5), np.arange(5.0))])]
    plots.plot_roc_panels(panels, tmp_path / "roc.png")
    plots.plot_boxes([("t", [("x", s[y == 1]), ("y", s[y == 0]), ("empty", np.array([]))])], tmp_path / "box.png")
    for name in ("roc.png", "box.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["box.png", "roc.png"]  # no temporaries left


def test_draw_roc_legend_carries_the_auroc():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genomamba.metrics.ranking import auroc

    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    fig, ax = plt.subplots()
    plots.draw_roc(ax, [("m", y, s)])
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    assert labels == [f"m (AUROC {auroc(y, s):.3f})", "chance"]
