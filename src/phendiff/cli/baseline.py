"""``phendiff baseline``: the PhenDiff paper's GAN baselines, trained and translated by phendiff.

``phendiff baseline train {stargan,cyclegan,phenex} DATA --out RUN`` trains one on a screen
(the same data sources as ``phendiff train``); ``phendiff baseline translate RUN INPUT...
--target T --out OUT`` writes exactly the layout of ``phendiff translate``, so ``phendiff
evaluate`` scores it unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from pathlib import Path

from phendiff.cli.defaults import add_device, device_from, shown

log = logging.getLogger("phendiff")

# (flag, field, type, help): BaselineConfig fields a user may set; None = "not given"
TRAIN_FLAGS = (
    ("--steps", "steps", int, "optimizer steps (cyclegan: of every pair)"),
    ("--batch-size", "batch_size", int, "images per step, over all processes"),
    ("--image-size", "image_size", int, "crop side in px"),
    ("--preset", "preset", str, "network widths: cpu (trains on a laptop) or paper (the "
     "papers' widths)"),
    ("--learning-rate", "learning_rate", float, "Adam's learning rate (default: the method's "
     "paper: stargan 1e-4, cyclegan 2e-4, phenex 2.5e-3)"),
    ("--n-critic", "n_critic", int, "stargan: critic steps per generator step"),
    ("--seed", "seed", int, "random seed"),
    ("--control", "control", str, "the untreated condition (default: DMSO)"),
    ("--channel-axis", "channel_axis", int, "channel axis of 3-D TIFFs"),
    ("--log-every", "log_every", int, "steps between rows of metrics.jsonl"),
    ("--checkpoint-every", "checkpoint_every", int, "steps between saves of RUN/model"),
)  # fmt: skip


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add ``baseline`` (with ``train`` and ``translate``) to the subcommands ``sub``."""
    from phendiff.baselines.config import LATENTS, METHODS, BaselineConfig

    p = sub.add_parser(
        "baseline",
        parents=[common],
        help="train and translate with the paper's GAN baselines (StarGAN, CycleGAN, PhenEx)",
        description="The baselines of the PhenDiff paper, trained on the same screen and "
        "scored by the same 'phendiff evaluate': StarGAN (one generator for every condition), "
        "CycleGAN (one model per control <-> condition pair) and PhenEx (a class-conditional "
        "StyleGAN2 whose projected latents move between class means).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    t = actions.add_parser(
        "train",
        parents=[common],
        help="train a baseline on a screen",
        epilog="example: phendiff baseline train stargan screen --out stargan_run --steps 4000",
        description="Train a baseline on DATA. Resumable (--resume), Ctrl-C safe (the model "
        "is saved and the run stops), multi-process under 'accelerate launch'.",
    )
    t.add_argument("method", choices=METHODS, help="which baseline")
    t.add_argument("data", type=Path, metavar="DATA", help="the screen, as for phendiff train")
    t.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    t.add_argument("--resume", action="store_true", help="continue the run in RUN")
    for flag, name, kind, what in TRAIN_FLAGS:
        value = getattr(BaselineConfig(), name)
        suffix = "" if "default:" in what else f" (default: {shown(value)})"
        metavar = name.split("_")[-1].upper() if kind is not str else "NAME"
        t.add_argument(flag, dest=name, type=kind, default=None, metavar=metavar,
                       help=what + suffix)  # fmt: skip
    t.add_argument(
        "--compounds", metavar="A,B", help="train on these compounds only (default: all)"
    )
    add_device(t)
    t.set_defaults(func=run_train)

    r = actions.add_parser(
        "translate",
        parents=[common],
        help="translate real images with a trained baseline",
        epilog="example: phendiff baseline translate stargan_run screen/DMSO --target "
        "latrunculin@all --out stargan_out",
        description="Translate real images with a baseline trained by 'phendiff baseline "
        "train'. Writes the layout of 'phendiff translate' (TIFFs in the input's dtype, "
        "previews, translations.csv with the reconstruction columns: a GAN's reconstruction "
        "is its translation to the source condition, PhenEx's its projection).",
    )
    r.add_argument("run", type=Path, metavar="RUN", help="baseline run (or its model folder)")
    r.add_argument("inputs", type=Path, nargs="+", metavar="INPUT",
                   help="image files, a folder of images or of condition folders, a manifest")
    r.add_argument("--target", action="append", required=True, metavar="T", dest="targets",
                   help="target condition (compound@all for a dose series); repeat for several")
    r.add_argument("--source", metavar="S", help="condition of the inputs where their folder "
                   "or manifest does not say")  # fmt: skip
    r.add_argument("--out", type=Path, required=True, metavar="OUT", help="output folder")
    r.add_argument("--latent", choices=LATENTS, default="w", help="phenex: project into W "
                   "(one latent) or W+ (one per layer) (default: w)")  # fmt: skip
    r.add_argument("--projection-steps", type=int, default=300, metavar="N",
                   help="phenex: optimisation steps of each projection (default: 300)")
    r.add_argument("--compounds", metavar="A,B", help="translate only these compounds' images")
    r.add_argument("--batch-size", type=int, default=8, metavar="B",
                   help="images read and written together (default: 8)")
    r.add_argument("--channel-axis", type=int, metavar="AXIS",
                   help="channel axis of 3-D TIFFs (default 0)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace the files a previous translate wrote in OUT")
    add_device(r)
    r.set_defaults(func=run_translate)


def _compounds(text: str | None):
    return None if text is None else tuple(c for c in text.split(",") if c)


def run_train(args: argparse.Namespace) -> None:
    """Train (or resume) the baseline and report where its model is."""
    from phendiff.baselines.config import BaselineConfig
    from phendiff.baselines.train import read_baseline_config, train_baseline
    from phendiff.errors import PhendiffError

    given = {name: getattr(args, name) for _, name, _, _ in TRAIN_FLAGS}
    given = {k: v for k, v in given.items() if v is not None}
    if args.compounds is not None:
        given["compounds"] = _compounds(args.compounds)
    if args.resume and (args.out / "baseline.yaml").exists():
        saved = read_baseline_config(args.out)
        if saved.method != args.method:
            raise PhendiffError(
                f"--resume: {args.out} holds a {saved.method} run, not {args.method}; "
                f"run 'phendiff baseline train {saved.method} ... --resume'"
            )
        config = dataclasses.replace(saved, **given)
    else:
        config = BaselineConfig(method=args.method, **given)
    device = device_from(args.device)
    model = train_baseline(args.data, args.out, config, resume=args.resume,
                           progress=not args.quiet, device=device)  # fmt: skip
    log.info("%s model: %s (translate with 'phendiff baseline translate %s ...')",
             args.method, model, args.out)  # fmt: skip


def run_translate(args: argparse.Namespace) -> None:
    """Translate the inputs with the baseline and write them under ``--out``."""
    from phendiff.baselines.translate import BaselineTranslator
    from phendiff.config import TranslateOptions
    from phendiff.data.outputs import check_output_folder
    from phendiff.errors import PhendiffError
    from phendiff.translate import collect_inputs, translate_files

    if args.batch_size < 1:
        raise PhendiffError(f"--batch-size {args.batch_size}; expected >= 1")
    translator = BaselineTranslator(args.run, args.latent, args.projection_steps,
                                    device=device_from(args.device))  # fmt: skip
    records = collect_inputs(args.inputs, args.source, _compounds(args.compounds),
                             translator.conditions)  # fmt: skip
    check_output_folder(args.out, args.overwrite, [p for r in records for p in r.paths])
    index = translate_files(
        translator, records, args.targets, args.out, TranslateOptions(batch_size=args.batch_size),
        channel_axis=args.channel_axis, overwrite=args.overwrite, progress=not args.quiet,
        translator=translator,
    )  # fmt: skip
    log.info("translated %d image(s) with %s; index: %s", len(records),
             translator.model.method, index)  # fmt: skip
