"""The ``phendiff`` command: a thin layer that parses, builds a config and calls the API.

One module per command (``synth``, ``train``, ``translate``, ``evaluate``, ``info``, ``demo``,
``baseline``),
each with ``add_parser(subparsers, common)`` and ``run(args)``. Defaults and choices come
from :mod:`phendiff.config` (see :mod:`phendiff.cli.defaults`). Heavy imports (torch,
diffusers) happen inside ``run`` so ``phendiff --help`` is instant. Errors a user can fix are
printed as one line (no traceback) with exit status 2, and so is any operating-system
error (read-only folder, full disk, missing path): the path, what failed, what to do.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from phendiff.cli import baseline, demo, evaluate, info, synth, train, translate
from phendiff.errors import PhendiffError, describe_os_error

COMMANDS = (synth, train, translate, evaluate, info, demo, baseline)


def main(argv: list[str] | None = None) -> None:
    """Run the ``phendiff`` command line with ``argv`` (default: ``sys.argv[1:]``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(message)s" if args.verbose else "%(message)s",
    )
    try:
        args.func(args)
    except PhendiffError as exc:
        print(f"phendiff {args.command}: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        print(f"phendiff {args.command}: error: {describe_os_error(exc)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:  # a stopped training run has saved its checkpoint
        signum = getattr(exc, "signum", signal.SIGINT)
        print(f"phendiff {args.command}: stopped by {signum.name}", file=sys.stderr)
        sys.exit(128 + signum)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (no heavy imports)."""
    from phendiff import __version__

    parser = argparse.ArgumentParser(
        prog="phendiff",
        description="Reveal cell phenotypes: train one class-conditional diffusion model on a "
        "screen, then translate real images between conditions.",
    )
    parser.add_argument("--version", action="version", version=f"phendiff {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    common.add_argument("-v", "--verbose", action="store_true", help="prefix log levels")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub, common)
    return parser
