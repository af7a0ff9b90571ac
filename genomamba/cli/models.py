"""``genomamba models``: list the models bundled with genomamba (``--checkpoint default``), with their cards."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "models",
        help="list the bundled pretrained models (--checkpoint default) with their model cards",
        description="List the models that ship inside genomamba, with a summary of each model card. With NAME, "
        "print its checkpoint directory (--card: the whole MODEL_CARD.md). `--checkpoint default` and "
        "`--checkpoint bundled:NAME` load them wherever a checkpoint is read.",
    )
    p.add_argument("name", nargs="?", help="print this bundled model's checkpoint directory")
    p.add_argument("--card", action="store_true", help="with NAME: print its MODEL_CARD.md")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.bundled import CARD_MD, MAKE_HINT, bundled_model, bundled_models, card_lines, models_dir

    if args.name:
        model = bundled_model(args.name)
        if args.card:
            card = model.path / CARD_MD
            print(card.read_text() if card.is_file() else f"{model.name}: no {CARD_MD} beside the weights")
        elif args.json:
            print(json.dumps({"name": model.name, "path": str(model.path), "card": model.card}, indent=2))
        else:
            print(model.path)
        return 0
    models = bundled_models()
    if args.json:
        rows = [{"name": m.name, "path": str(m.path), "size_mb": round(m.size_mb, 2), "card": m.card} for m in models]
        print(json.dumps(rows, indent=2))
        return 0
    if not models:
        print(f"no bundled model in {models_dir()}: {MAKE_HINT} (writes the checkpoint and its model card there)")
        return 0
    for m in models:
        print(f"{m.name:<12} {m.size_mb:6.1f} MB  {m.path}")
        for line in card_lines(m.card) or ["(no model_card.json)"]:
            print(f"{'':<12} {line}")
    return 0
