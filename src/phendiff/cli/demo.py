"""``phendiff demo``: phendiff's main job on its built-in data and shipped model."""

from __future__ import annotations

import argparse
from pathlib import Path

from phendiff.cli.defaults import add_device, add_option, device_from
from phendiff.config import DemoOptions
from phendiff.errors import PhendiffError


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add ``demo`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "demo",
        epilog="example: phendiff demo --out demo   (then open demo/index.html)",
        parents=[common],
        help="run phendiff's main job on its built-in data",
        description="Generate fresh synthetic DMSO fields, translate them with the model "
        "shipped in phendiff to every dose of every compound, and write an HTML page with "
        "the dose series and difference maps (about a minute on a laptop CPU).",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("phendiff-demo"),
        metavar="DIR",
        help="output folder (default: ./phendiff-demo)",
    )
    add_option(p, "--images", DemoOptions, "images", "DMSO fields", type=int, metavar="N")
    add_option(p, "--steps", DemoOptions, "steps", "DDIM steps", type=int, metavar="N")
    add_device(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty DIR: replaces the files a previous "
        "demo wrote there; nothing else is touched",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Write the demo page and say where it is."""
    from phendiff.demo import run_demo

    if args.images < 1:
        raise PhendiffError(f"--images {args.images}; expected at least 1")
    device = device_from(args.device)
    page = run_demo(
        args.out,
        n_images=args.images,
        steps=args.steps,
        overwrite=args.overwrite,
        progress=not args.quiet,
        device=device,
    )
    print(
        f"\nphendiff demo written to {args.out}/\n  open {page} in a browser"
        f"\n  translated TIFFs and figures: {args.out / 'translations'}/<field>/"
    )
