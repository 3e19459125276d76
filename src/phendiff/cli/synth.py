"""``phendiff synth``: write the built-in synthetic screen."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phendiff.cli.defaults import add_option
from phendiff.config import SynthOptions

log = logging.getLogger("phendiff")


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add ``synth`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "synth",
        epilog="example: phendiff synth screen --per-condition 64 --seed 0",
        parents=[common],
        help="write the built-in synthetic screen",
        description="Write a BBBC021-like synthetic screen with known dose "
        "responses: OUT/<condition>/*.tif, manifest.csv, ground_truth.csv.",
    )
    p.add_argument("out", type=Path, metavar="OUT")
    add_option(p, "--per-condition", SynthOptions, "per_condition", "fields per condition",
               type=int, metavar="N")  # fmt: skip
    add_option(p, "--size", SynthOptions, "size", "field side in px", type=int, metavar="PX")
    add_option(p, "--seed", SynthOptions, "seed", "random seed", type=int, metavar="S")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty OUT: replaces the files a previous "
        "synth wrote there; nothing else is touched",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Write the screen."""
    from phendiff.data.synthetic import generate_screen

    out = generate_screen(
        args.out,
        per_condition=args.per_condition,
        size=args.size,
        seed=args.seed,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    log.info("synthetic screen written to %s (manifest.csv, ground_truth.csv)", out)
