"""The demo: phendiff's main job on its built-in data, in about a minute on a laptop CPU.

Fresh synthetic DMSO fields (never seen in training) are written as TIFFs, translated with
the small model shipped in the package to every dose of every compound (one exact inversion
per field), and shown on one HTML page next to the true dose responses of the synthetic
screen. The shipped model was trained with the command in ``assets/demo_model/README.md``.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path

import numpy as np

from phendiff.conditions import Condition
from phendiff.config import DemoOptions
from phendiff.data.atomic import write_text
from phendiff.data.outputs import check_output_folder, output_folder
from phendiff.errors import PhendiffError

COMMAND = "demo"
DEMO_SEED = 20261122  # differs from the training screen's seed 0: fresh cells


def demo_model_path() -> Path:
    """Folder of the model shipped with phendiff (trained on the synthetic screen)."""
    return Path(str(resources.files("phendiff") / "assets" / "demo_model"))


def run_demo(
    out: str | Path,
    n_images: int = DemoOptions.images,
    steps: int = DemoOptions.steps,
    overwrite: bool = False,
    progress: bool = True,
    device: str = "cpu",
) -> Path:
    """Write ``out/index.html`` and everything it shows; returns the page's path.

    Everything is built in a staging folder and moved into ``out`` at the end
    (:mod:`phendiff.data.outputs`): ``overwrite`` replaces a previous demo's files only.
    """
    from phendiff.model.checkpoint import load_model
    from phendiff.translate import TranslateOptions

    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 1:
        raise PhendiffError(f"n_images={n_images!r}; expected an integer >= 1 (e.g. 4)")
    # one batch; network calls of n_images samples (no padding of the shared inversion)
    options = TranslateOptions(steps=steps, batch_size=n_images, network_batch=n_images)
    check_output_folder(out, overwrite)
    model = load_model(demo_model_path(), device=device)
    final = Path(out).absolute()
    with output_folder(out, COMMAND, overwrite) as stage:
        _write_demo(stage, final, model, n_images, options, progress)
    return Path(out) / "index.html"


def _write_demo(out: Path, final: Path, model, n_images: int, options, progress: bool) -> None:
    """Write the demo into the staging folder ``out``, to be moved to ``final``."""
    from phendiff.data.io import write_tiff
    from phendiff.data.sources import ImageRecord
    from phendiff.data.synthetic import render_field
    from phendiff.translate import translate_files

    size, names = model.config.image_size, model.config.channel_names
    records = []
    for i in range(n_images):
        field = render_field(Condition("DMSO"), np.random.default_rng([DEMO_SEED, i]), size)
        path = write_tiff(out / "inputs" / "DMSO" / f"field{i:02d}.tif", field, names)
        records.append(ImageRecord((path,), Condition("DMSO")))
    targets = [f"{compound}@all" for compound in model.conditions.compounds]
    index = translate_files(
        model, records, targets, out / "translations", options, progress=progress
    )
    # the inputs' paths in the index: where they will be once the demo is in place
    text = index.read_text(encoding="utf-8")
    write_text(index, text.replace(str(out / "inputs"), str(final / "inputs")))
    write_index(out, model)


def write_index(out: Path, model) -> Path:
    """A single page with the dose series of every input and the reconstruction check."""
    from phendiff.data.synthetic import true_parameters
    from phendiff.translate import read_index

    rows = read_index(out / "translations")
    ids = list(dict.fromkeys(r["id"] for r in rows))
    errors = {r["id"]: (float(r["recon_mse"]), float(r["recon_l2_255"])) for r in rows}
    parts = [
        "<!doctype html><meta charset='utf-8'><title>phendiff demo</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
        "img{max-width:100%;image-rendering:pixelated}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style>",
        "<h1>phendiff demo: what would these cells look like under treatment?</h1>",
        f"<p>{len(ids)} fresh synthetic DMSO fields were inverted once each under DMSO with "
        "the model shipped in phendiff, then regenerated under every dose of every compound. "
        "Channels: "
        + ", ".join(html.escape(n) for n in model.config.channel_names)
        + " (blue, green, red). Difference maps: red = brighter than the input, blue = "
        "dimmer. The shipped model is small (1.1 M parameters, 91 minutes of CPU training): "
        "its translations reproduce the strong phenotypes (actin loss, cell shrinkage and "
        "cell loss at the top doses), but under some conditions it also shifts the "
        "background brightness and exaggerates small intensity changes of low doses "
        "(measured in experiments/synthetic_screen in the repository).</p>",
        "<h2>What the synthetic compounds truly do</h2>",
        _truth_table(model, true_parameters),
    ]
    for id_ in ids:
        mse, l2 = errors[id_]
        parts += [
            f"<h2>{html.escape(id_)}</h2>",
            f"<p>Reconstruction under DMSO (quality control): MSE {mse:.2e} in normalised "
            f"units, ‖x − x̂‖₂ = {l2:.2e} on the 0–255 scale.</p>",
            _img(f"translations/{id_}/dose_series.png", "dose series"),
            _img(f"translations/{id_}/dose_series_differences.png", "|difference| per dose"),
            "<details><summary>signed difference maps per channel</summary>",
            _img(f"translations/{id_}/differences.png", "differences"),
            "</details>",
        ]
    parts.append(
        "<p>All files are indexed in <code>translations/translations.csv</code>; "
        "translated images are TIFFs in the input's dtype.</p>"
    )
    return write_text(out / "index.html", "\n".join(parts) + "\n")


def _img(src: str, alt: str) -> str:
    return f"<p><img src='{html.escape(src)}' alt='{html.escape(alt)}'></p>"


def _truth_table(model, true_parameters) -> str:
    conditions = list(model.conditions)
    params = list(true_parameters(conditions[0]))
    head = "<tr><th>condition</th>" + "".join(f"<th>{html.escape(p)}</th>" for p in params)
    body = []
    for c in conditions:
        values = true_parameters(c)
        body.append(
            f"<tr><th>{html.escape(c.name)}</th>"
            + "".join(f"<td>{values[p]:.3g}</td>" for p in params)
            + "</tr>"
        )
    return "<table>" + head + "</tr>" + "".join(body) + "</table>"
