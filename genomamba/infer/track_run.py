"""``track`` driver: load the checkpoint on its device, pick the track producer, stream tiles into the track files,
and write the output directory atomically (track files, ``track.json`` provenance, optional ``browser.png``).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

from genomamba.atomic import atomic_dir, check_output_dir
from genomamba.errors import GenomambaError
from genomamba.infer.config import TrackConfig
from genomamba.infer.regions import Region
from genomamba.infer.trackio import ZOOMS_AUTO_BASES, TrackWriter, zoom_levels

log = logging.getLogger(__name__)

_REGIONS_LISTED = 20  # regions named in track.json (all are counted)
TRACK_JSON = "track.json"  # every track output holds it: marks a previous output


def make_producer(net, genome, cfg: TrackConfig, device: str, path):
    """The track producer for a loaded checkpoint: LM tracks, or a fine-tuned head's prediction."""
    from genomamba.infer.readout import HeadReadout
    from genomamba.infer.tracks import LmTracks, PositionHeadTracks, SequenceHeadTracks, sequence_window

    if not hasattr(net, "head_config"):
        from genomamba.vep.scorers import ModelScorer

        return LmTracks(ModelScorer(net, 1, device, Path(path)), genome, cfg)
    readout = HeadReadout.of(net, cfg.head_output, path)
    if net.head_config.kind == "position":
        return PositionHeadTracks(net, readout, genome, cfg, device)
    return SequenceHeadTracks(net, readout, genome, cfg, device, sequence_window(net, cfg, path))


def _provenance(checkpoint, producer, cfg: TrackConfig, regions: list[Region], device: str) -> dict:
    keys = ("tile", "margin", "strands", "window", "step")
    geometry = {k: getattr(producer, k) for k in keys if hasattr(producer, k)}
    return {
        "checkpoint": str(Path(checkpoint).resolve()),
        "config": asdict(cfg),
        "device": device,
        "geometry": geometry,
        "regions": [f"{r.contig}:{r.start}-{r.end}" for r in regions[:_REGIONS_LISTED]],
        "n_regions": len(regions),
        "bases": sum(r.length for r in regions),
        "coordinates": "0-based half-open in regions; track files use their formats' own conventions",
    }


def write_tracks(
    checkpoint: str | Path,
    genome,
    regions: list[Region],
    out: str | Path,
    cfg: TrackConfig,
    backend: str | None = None,
    figure: bool = False,
    transcripts: list | None = None,
) -> dict:
    """Compute every track of ``checkpoint`` over ``regions`` into directory ``out``; returns track.json's dict."""
    from genomamba.model import load_for_inference

    out = check_output_dir(out, TRACK_JSON)  # a folder that is not ours fails before the model loads
    if figure and "bigwig" not in cfg.formats:
        raise GenomambaError("--figure reads the bigWig files back: add bigwig to --formats")
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    net, device = load_for_inference(checkpoint, cfg.device, backend)
    producer = make_producer(net, genome, cfg, device, checkpoint)
    record = _provenance(checkpoint, producer, cfg, regions, device)
    sizes = {name: length for name, length in genome.contigs.items() if length > 0}
    zooms = zoom_levels(cfg.bigwig_zooms, record["bases"]) if "bigwig" in cfg.formats else None
    record["bigwig_zooms"] = zooms
    if zooms is not None and cfg.bigwig_zooms == "auto":
        log.info("bigwig_zooms auto: %d zoom levels for %s bases (none above %s: bounded memory)", zooms,
                 record["bases"], ZOOMS_AUTO_BASES)  # fmt: skip
    t0 = time.perf_counter()
    with atomic_dir(out, TRACK_JSON) as tmp:
        writers = {n: TrackWriter(tmp, n, cfg.formats, sizes, d, zooms) for n, d in producer.descriptions.items()}
        try:
            for t in producer.run(regions):
                for name, writer in writers.items():
                    writer.add(t.contig, t.start, t.values[name], t.span, t.end)
        finally:
            for writer in writers.values():
                writer.close()
        seconds = time.perf_counter() - t0
        record["tracks"] = {n: _track_entry(d, writers[n]) for n, d in producer.descriptions.items()}
        record.update(seconds=round(seconds, 3), bases_per_second=round(record["bases"] / max(seconds, 1e-9), 1))
        if figure:
            from genomamba.infer.browser import draw_browser

            panels = [(n, w.paths["bigwig"]) for n, w in writers.items()]
            draw_browser(tmp / "browser.png", regions[0], panels, transcripts, title=_title(regions[0], checkpoint))
            record["figure"] = "browser.png"
        (tmp / TRACK_JSON).write_text(json.dumps(record, indent=2) + "\n")
    log.info("tracks: %s bases in %.1f s (%s bases/s) -> %s", record["bases"], seconds, record["bases_per_second"], out)
    return record


def _track_entry(description: str, writer: TrackWriter) -> dict:
    return {"description": description, "files": sorted(p.name for p in writer.paths.values())}


def _title(region: Region, checkpoint) -> str:
    name = f" ({region.name})" if region.name else ""
    return f"{region}{name} -- {Path(checkpoint).name}"
