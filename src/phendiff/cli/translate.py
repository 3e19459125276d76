"""``phendiff translate``: invert each input once, regenerate it under every target."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from phendiff.cli.defaults import add_device, add_option, device_from, options_from
from phendiff.config import (
    FIXED_POINT,
    GUIDANCE_KINDS,
    INVERSIONS,
    PRECISIONS,
    SPACINGS,
    TranslateOptions,
)

log = logging.getLogger("phendiff")


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add ``translate`` to the subcommands ``sub``."""
    p = sub.add_parser(
        "translate",
        epilog="example: phendiff translate run screen/DMSO --target nocodazole@all --out out",
        parents=[common],
        help="translate real images to other conditions",
        description="Invert each input image under its own condition once, and regenerate it "
        "under every target condition. Writes TIFFs in the input's dtype, PNG previews, "
        "signed difference maps, dose-series figures and translations.csv.",
    )
    p.add_argument("model", type=Path, metavar="MODEL", help="model folder or training run")
    p.add_argument(
        "inputs",
        type=Path,
        nargs="+",
        metavar="INPUT",
        help="image files, a folder of images or of condition folders, a manifest",
    )
    p.add_argument(
        "--target",
        action="append",
        required=True,
        metavar="T",
        dest="targets",
        help="target condition, e.g. nocodazole@1, nocodazole@all for a dose series, or "
        "all for every condition of the model; repeat for several",
    )
    p.add_argument(
        "--source",
        metavar="S",
        help="condition of the inputs when their folder or manifest does not say (e.g. DMSO; "
        "a folder named after a condition, like SCREEN/DMSO, says it)",
    )
    p.add_argument(
        "--compounds",
        metavar="A,B",
        help="translate only the images of these compounds of a manifest or BBBC021 CSV, "
        "e.g. DMSO (the control only if listed; default: all)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="OUT", help="output folder")
    g = p.add_argument_group("translation")
    for flag, name, what, kw in (
        ("--steps", "steps", "DDIM steps", dict(type=int, metavar="N")),
        ("--inversion", "inversion", "exact (DDIM inversion refined to a fixed point, with "
         "per-step residuals: reconstructs the input to round-off), bdia (exact too, but adds "
         "speckle to translations) or ddim (the paper's plain DDIM inversion)",
         dict(choices=[i for i in INVERSIONS if i != "noised"])),
        ("--guidance", "guidance", "w in ε_src + w(ε_tgt − ε_src): 1 = the plain target "
         "model, >1 exaggerates; the default, with --guidance-above, shows more of the cells "
         "lost and shrunk than the plain model does from an inverted image, at 8 more network "
         "evaluations per target (25 steps)", dict(type=float, metavar="W")),
        ("--guidance-kind", "guidance_kind", "source-relative or classifier-free guidance",
         dict(choices=GUIDANCE_KINDS)),
        ("--guidance-above", "guidance_above", "guide only at noise levels above this "
         "fraction of the schedule, where cells are kept or lost and sized; below it the plain "
         "target model settles intensity and texture, which guidance on every step (0) "
         "overshoots; one more network evaluation per guided step", dict(type=float, metavar="F")),
        ("--depth", "depth", "invert to this fraction of the noise schedule",
         dict(type=float, metavar="F")),
        ("--spacing", "spacing", "timesteps quadratic in the step index (finer near the data, "
         "where inversion errs: more of a treatment's effect at the same cost) or evenly spaced",
         dict(choices=SPACINGS)),
        ("--precision", "precision", "network precision; auto: bf16 autocast where the device "
         "has it, else fp32; trajectories are float64 in every case", dict(choices=PRECISIONS)),
        ("--batch-size", "batch_size", "images inverted together", dict(type=int, metavar="B")),
        ("--network-batch", "network_batch", "samples in every network call, the last one "
         "padded, so results do not depend on --batch-size: raise it on a GPU, lower it to "
         "save memory", dict(type=int, metavar="N")),
    ):  # fmt: skip
        add_option(g, flag, TranslateOptions, name, what, **kw)
    g.add_argument(
        "--fixed-point",
        type=int,
        metavar="K",
        help="fixed-point refinements of each inversion step (Anderson-accelerated), one "
        "network evaluation each, shared by all targets. Unrefined, the latent keeps the image "
        "and translations keep what the target would change (cells lost, shapes): 0 is faster "
        "and weaker "
        f"(default: {FIXED_POINT} with exact inversion, 0 with ddim)",
    )
    g.add_argument(
        "--channel-axis",
        type=int,
        metavar="AXIS",
        help="channel axis of 3-D TIFFs (default 0: files are (C, Y, X))",
    )
    add_device(g)
    names = g.add_mutually_exclusive_group()
    names.add_argument(
        "--channel-names",
        metavar="IN=MODEL,...",
        help="map the inputs' channel names to the model's, e.g. DAPI=DNA,Tubulin=tubulin,"
        "Actin=actin (named channels are matched by name, in any order; names that differ "
        "from the model's are an error without this)",
    )
    names.add_argument(
        "--ignore-channel-names",
        action="store_true",
        help="take every file's channels in file order, whatever their names",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files a previous translate wrote in OUT (nothing else there is touched)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """Translate the inputs and write them under ``--out``."""
    from phendiff.data.outputs import check_output_folder
    from phendiff.model.checkpoint import load_model, read_model_meta
    from phendiff.translate import collect_inputs, translate_files
    from phendiff.translate.channels import parse_channel_map

    options = options_from(TranslateOptions, args)
    mapping = parse_channel_map(args.channel_names)
    device = device_from(args.device)
    compounds = None if args.compounds is None else [c for c in args.compounds.split(",") if c]
    conditions = read_model_meta(args.model)[2]  # cheap: no weights yet
    records = collect_inputs(args.inputs, args.source, compounds, conditions)
    check_output_folder(args.out, args.overwrite, [p for r in records for p in r.paths])
    model = load_model(args.model, device=device)
    index = translate_files(
        model,
        records,
        args.targets,
        args.out,
        options,
        channel_axis=args.channel_axis,
        overwrite=args.overwrite,
        progress=not args.quiet,
        channel_names=mapping,
        ignore_channel_names=args.ignore_channel_names,
    )
    log.info("translated %d image(s); index: %s", len(records), index)
