"""``genomamba`` command line: an argparse dispatcher over thin subcommand modules.

Each module in ``COMMANDS`` defines ``register(subparsers)``, which adds its parser and sets ``func`` to a
``run(args) -> int`` that calls into the library. Heavy imports happen inside ``run`` so ``--help`` stays fast.
Errors about input (``GenomambaError``) print one line, ``genomamba <cmd>: <file>:<record>: <problem>``, exit 2;
anything else prints one line and exits 1 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from genomamba import __version__
from genomamba.errors import GenomambaError
from genomamba.threads import prepare_process

# module names under genomamba.cli, in the order they appear in --help
COMMANDS = (
    "genomes",
    "models",
    "windows",
    "pretrain",
    "summarize",
    "score_vcf",
    "evaluate_vep",
    "make_task",
    "finetune",
    "predict",
    "evaluate",
    "embed",
    "probe",
    "track",
    "ism",
)


class OneLineParser(argparse.ArgumentParser):
    """A flag argparse cannot parse (``--context abc``, a missing required flag) is one line naming it, exit 2, like
    every other bad input; argparse would print the whole usage first. Subcommand parsers inherit the class."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="genomamba",
        description="Bidirectional Mamba for genomes: windows, pretraining, fine-tuning, variant scoring.",
    )
    parser.add_argument("--version", action="version", version=f"genomamba {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"genomamba.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # before torch loads (argument types may load it): OpenMP threads that wait sleep instead of spinning, so a busy
    # machine cannot turn two threads into a collapse (genomamba/threads.py)
    prepare_process(reuse_memory=False)
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args) or 0)
    except GenomambaError as exc:
        if args.debug:
            raise
        print(f"genomamba {args.command}: {exc.render()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"genomamba {args.command}: interrupted; no partial outputs were kept", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment problem: one line, traceback only on --debug
        if args.debug:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""  # library messages can span lines
        print(f"genomamba {args.command}: {type(exc).__name__}: {first} (rerun with --debug)", file=sys.stderr)
        return 1
