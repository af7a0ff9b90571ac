"""Track files: bigWig (pyBigWig, header = the FASTA's sequence sizes) and bedGraph, written as values stream in.

``TrackWriter.add(contig, start, values, span)`` takes consecutive entries of ``span`` bases each (the last one may
be cut at ``end``); NaN marks "no value" (an N base, say) and leaves a gap. Entries must arrive in FASTA order and
ascending position, which merged regions guarantee. Files are written under the caller's temporary directory
(``atomic_dir``), so nothing is left behind when a run fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FORMATS = {"bigwig": ".bw", "bedgraph": ".bedgraph"}
MAX_ZOOMS = 10
# pyBigWig (libBigWig) keeps every zoom level in memory until close(): measured ~14 bytes per base written
# (51 / 177 / 387 / 737 MB peak at 1 / 10 / 25 / 50 Mb), against a flat ~40 MB without zoom levels. Up to this many
# bases the levels cost <= ~150 MB and are written; above it, auto writes none (browsers then summarise raw data)
ZOOMS_AUTO_BASES = 10_000_000


def zoom_levels(setting: int | str, bases: int) -> int:
    """bigWig zoom levels for a track of ``bases`` bases: ``setting`` (0..10), or auto (see ZOOMS_AUTO_BASES)."""
    if setting != "auto":
        return int(setting)
    return MAX_ZOOMS if bases <= ZOOMS_AUTO_BASES else 0


def _runs(finite: np.ndarray) -> list[tuple[int, int]]:
    """[lo, hi) index runs where ``finite`` is True."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], finite.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


class TrackWriter:
    def __init__(
        self,
        folder: Path,
        name: str,
        formats: list[str],
        chrom_sizes: dict[str, int],
        description: str,
        zooms: int = MAX_ZOOMS,
    ):
        import pyBigWig

        self.name = name
        self.paths = {fmt: folder / f"{name}{FORMATS[fmt]}" for fmt in formats}
        self._bw = None
        self._bg = None
        if "bigwig" in formats:
            self._bw = pyBigWig.open(str(self.paths["bigwig"]), "w")
            self._bw.addHeader(list(chrom_sizes.items()), maxZooms=int(zooms))
        if "bedgraph" in formats:
            self._bg = open(self.paths["bedgraph"], "w")
            self._bg.write(f'track type=bedGraph name="{name}" description="{description}"\n')
        self.n_values = 0

    def add(self, contig: str, start: int, values: np.ndarray, span: int = 1, end: int | None = None) -> None:
        """values (n,): entry i covers [start + i*span, start + (i+1)*span), the last one cut at ``end``."""
        values = np.asarray(values, dtype=np.float64)
        end = start + values.size * span if end is None else end
        for lo, hi in _runs(np.isfinite(values)):
            s0 = start + lo * span
            cut = hi == values.size and end < start + hi * span  # the run's last entry is shorter
            full = hi - lo - int(cut)
            if full:
                self._write(contig, s0, values[lo : lo + full], span)
            if cut:
                self._write(contig, s0 + full * span, values[hi - 1 : hi], end - (s0 + full * span))
            self.n_values += hi - lo

    def _write(self, contig: str, start: int, values: np.ndarray, span: int) -> None:
        if self._bw is not None:
            self._bw.addEntries(contig, int(start), values=values, span=int(span), step=int(span))
        if self._bg is not None:
            starts = start + span * np.arange(values.size)
            lines = (f"{contig}\t{s}\t{s + span}\t{v:.6g}\n" for s, v in zip(starts.tolist(), values.tolist()))
            self._bg.write("".join(lines))

    def close(self) -> None:
        if self._bw is not None:
            self._bw.close()
            self._bw = None
        if self._bg is not None:
            self._bg.close()
            self._bg = None
