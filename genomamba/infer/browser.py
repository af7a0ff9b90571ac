"""A genome-browser-like figure: tracks read back from their bigWig files, stacked over one region, with the gene
annotation drawn underneath (transcript lines, exon boxes, strand arrows, gene names).

Values are binned to at most ``bins`` per track (bigWig zoom statistics, mean per bin), so a region of any size
draws in constant time and memory.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genomamba.infer.regions import Region


def _binned(path: Path, region: Region, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin centres, mean value per bin; NaN where the track has no value) of a bigWig over ``region``."""
    import pyBigWig

    n = max(1, min(bins, region.length))
    bw = pyBigWig.open(str(path))
    try:
        values = bw.stats(region.contig, region.start, region.end, nBins=n, type="mean")
    finally:
        bw.close()
    edges = np.linspace(region.start, region.end, n + 1)
    y = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return 0.5 * (edges[:-1] + edges[1:]), y


def _lanes(transcripts: list, gap: int) -> list[int]:
    """A row per transcript such that transcripts in one row are ``gap`` bases apart (room for labels; greedy)."""
    ends: list[int] = []
    lanes = []
    for t in transcripts:
        for i, end in enumerate(ends):
            if t.start >= end + gap:
                ends[i] = t.end
                lanes.append(i)
                break
        else:
            ends.append(t.end)
            lanes.append(len(ends) - 1)
    return lanes


def _draw_genes(ax, transcripts: list, region: Region) -> None:
    shown = sorted((t for t in transcripts if t.end > region.start and t.start < region.end), key=lambda t: t.start)
    lanes = _lanes(shown, region.length // 12)
    for t, lane in zip(shown, lanes):
        y = -lane
        ax.plot([t.start, t.end], [y, y], color="0.3", lw=1)
        for s, e in t.sorted_exons():
            ax.add_patch(_box(s, e, y))
        # strand arrows on top of the boxes, about one per 1/30 of the view, at least one per transcript
        arrows = np.linspace(t.start, t.end, max(3, (t.end - t.start) * 30 // max(region.length, 1)))[1:-1]
        marker = ">" if t.strand == "+" else "<"
        ax.plot(arrows, np.full(arrows.size, y), ls="", marker=marker, ms=4, color="white", zorder=3)
        label = t.gene.removeprefix("gene-")
        ax.text(min(max(t.start, region.start), region.end), y + 0.28, label, fontsize=7, va="bottom")
    ax.set_ylim(-max(lanes, default=0) - 0.8, 0.9)
    ax.set_yticks([])
    ax.set_ylabel("genes", fontsize=8)


def _box(start: int, end: int, y: float):
    from matplotlib.patches import Rectangle

    return Rectangle((start, y - 0.18), end - start, 0.36, color="tab:blue")


def draw_browser(
    png: str | Path,
    region: Region,
    tracks: list[tuple[str, Path]],
    transcripts: list | None = None,
    title: str = "",
    bins: int = 1000,
) -> None:
    """Write ``png``: one panel per (name, bigWig path) over ``region``, plus the annotation panel if given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(tracks) + (transcripts is not None)
    ratios = [2] * len(tracks) + ([1.2] if transcripts is not None else [])
    fig, axes = plt.subplots(n, 1, sharex=True, figsize=(10, 1.5 * n + 0.8), height_ratios=ratios, squeeze=False)
    axes = axes[:, 0]
    for ax, (name, path) in zip(axes, tracks):
        x, y = _binned(path, region, bins)
        ax.fill_between(x, y, np.nanmin(y) if np.isfinite(y).any() else 0, step="mid", alpha=0.35, lw=0)
        ax.plot(x, y, lw=0.8, drawstyle="steps-mid")
        ax.set_ylabel(name, fontsize=8)
        ax.tick_params(labelsize=7)
    if transcripts is not None:
        _draw_genes(axes[-1], transcripts, region)
    axes[-1].set_xlim(region.start, region.end)
    axes[-1].set_xlabel(f"{region.contig} (0-based position)", fontsize=8)
    fig.suptitle(title or str(region), fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
