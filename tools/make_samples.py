"""Regenerate the bundled sample photos in ``assets/samples/`` from installed packages.

    PYTHONPATH=. .venv/bin/python tools/make_samples.py     (from the repository root)

Sources (tools only, not runtime dependencies): scikit-image 0.26.0 (``skimage/data/``),
scikit-learn 1.9.1 (``sklearn/datasets/images/``) and matplotlib 3.11.2
(``matplotlib/mpl-data/sample_data/``). Each photo is read through the package's own loader
(``skimage.data.<name>()``, ``sklearn.datasets.load_sample_image``,
``matplotlib.cbook.get_sample_data``), converted to RGB, downscaled (Lanczos) so that its longer
side is at most 512 px, and saved as a baseline JPEG (quality 92, Pillow's default 4:2:0
chroma; no metadata except the source note in grace_hopper.jpg's JPEG comment, carried over
from matplotlib's file). The script also writes the manifest ``SAMPLES.json`` read by
``core.data.images.list_samples`` and ``LICENSES.md``.

The output is deterministic for a given Pillow/libjpeg build (Pillow 13.0.0 made the committed
files); another build may differ by a few JPEG bytes but not visibly.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "samples"
MAX_SIDE = 512
COMMAND = "PYTHONPATH=. .venv/bin/python tools/make_samples.py"


def _skimage(name: str) -> Image.Image:
    """``skimage.data.<name>()`` (reads skimage/data/<file> inside the wheel)."""
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)())


def _sklearn(name: str) -> Image.Image:
    """``sklearn.datasets.load_sample_image(name)`` (sklearn/datasets/images/<name>)."""
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name))


def _mpl(name: str) -> Image.Image:
    """matplotlib's mpl-data/sample_data/<name>, opened with Pillow (its JPEG comment, which
    names the photo's source, is kept in the output file)."""
    from matplotlib import cbook

    with cbook.get_sample_data(name) as f:
        im = Image.open(f)
        im.load()
        return im


# In the order the app lists them (the order of the first commit of the samples).
SAMPLES = [
    dict(
        key="chelsea", title="Cat (Chelsea)", subject="cat",
        src=lambda: _skimage("chelsea"), package="scikit-image 0.26.0, skimage/data/chelsea.png",
        licence="CC0-1.0",
        credit="Stefan van der Walt (photographer)",
        source="scikit-image skimage.data.chelsea (docstring: \"No copyright restrictions. "
               "CC0 by the photographer (Stefan van der Walt).\")",
    ),
    dict(
        key="coffee", title="Coffee cup", subject="cup",
        src=lambda: _skimage("coffee"), package="scikit-image 0.26.0, skimage/data/coffee.png",
        licence="CC0-1.0",
        credit="Rachel Michetti (photographer); courtesy of Pikolo Espresso Bar",
        source="scikit-image skimage.data.coffee (docstring: \"No copyright restrictions. "
               "CC0 by the photographer (Rachel Michetti).\")",
    ),
    dict(
        key="astronaut", title="Astronaut (Eileen Collins)", subject="person",
        src=lambda: _skimage("astronaut"), package="scikit-image 0.26.0, skimage/data/astronaut.png",
        licence="Public domain",
        credit="NASA (portrait of astronaut Eileen Collins)",
        source="scikit-image skimage.data.astronaut, from the NASA Great Images database "
               "(https://flic.kr/p/r9qvLn); docstring: \"No known copyright restrictions, "
               "released into the public domain.\"",
    ),
    dict(
        key="grace_hopper", title="Portrait (Grace Hopper)", subject="person",
        src=lambda: _mpl("grace_hopper.jpg"),
        package="matplotlib 3.11.2, matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        licence="Public domain (U.S. Navy photograph, work of the U.S. federal government)",
        credit="U.S. Navy (official portrait of Commodore Grace M. Hopper)",
        source="matplotlib mpl-data/sample_data/grace_hopper.jpg; the JPEG's own comment reads "
               "'File source: http://commons.wikimedia.org/wiki/File:Grace_Hopper.jpg'",
    ),
    dict(
        key="flower", title="Flower (dahlia)", subject="flower",
        src=lambda: _sklearn("flower.jpg"), package="scikit-learn 1.9.1, sklearn/datasets/images/flower.jpg",
        licence="CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/)",
        credit="Flickr user vultilion (https://www.flickr.com/photos/vultilion/6056698931/); "
               "retrieved by Robert Layton for scikit-learn. Resized and re-encoded.",
        source="scikit-learn sklearn/datasets/images/flower.jpg (README.txt there; its "
               "'Attribution' line names danielbuechele, but its own links point to vultilion)",
    ),
    dict(
        key="china", title="Pagoda (China)", subject="building",
        src=lambda: _sklearn("china.jpg"), package="scikit-learn 1.9.1, sklearn/datasets/images/china.jpg",
        licence="CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/)",
        credit="Flickr user danielbuechele (https://www.flickr.com/photos/danielbuechele/6061409035/); "
               "retrieved by Robert Layton for scikit-learn. Resized and re-encoded.",
        source="scikit-learn sklearn/datasets/images/china.jpg (README.txt there)",
    ),
    dict(
        key="rocket", title="Rocket (Falcon 9 on the pad)", subject="rocket",
        src=lambda: _skimage("rocket"), package="scikit-image 0.26.0, skimage/data/rocket.jpg",
        licence="Public domain",
        credit="SpaceX (launch of DSCOVR on Falcon 9, Cape Canaveral)",
        source="scikit-image skimage.data.rocket, from SpaceX Photos on Flickr "
               "(https://www.flickr.com/photos/spacexphotos/16511594820/); docstring: \"captured "
               "by SpaceX and released in the public domain\"",
    ),
]

FIELDS = ("key", "title", "filename", "subject", "licence", "credit", "source")


def make() -> list[dict]:
    OUT.mkdir(parents=True, exist_ok=True)
    entries = []
    for s in SAMPLES:
        im = s["src"]().convert("RGB")
        scale = MAX_SIDE / max(im.size)
        if scale < 1:
            size = (round(im.width * scale), round(im.height * scale))
            im = im.resize(size, Image.Resampling.LANCZOS)
        filename = f"{s['key']}.jpg"
        im.save(OUT / filename, format="JPEG", quality=92)
        entry = {k: s[k] for k in FIELDS if k != "filename"}
        entry["filename"] = filename
        entry = {k: entry[k] for k in FIELDS}
        entry["size"] = list(im.size)
        entry["package_file"] = s["package"]
        entries.append(entry)
        print(f"{filename}: {im.width}x{im.height} from {s['package']}", file=sys.stderr)
    manifest = {
        "generated_by": COMMAND,
        "processing": f"RGB, longer side <= {MAX_SIDE} px (Lanczos), JPEG quality 92",
        "samples": entries,
    }
    (OUT / "SAMPLES.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    (OUT / "LICENSES.md").write_text(_licences_md(entries), encoding="utf-8")
    return entries


def _licences_md(entries: list[dict]) -> str:
    lines = [
        "# Bundled sample photos: sources and licences",
        "",
        f"Made by `{COMMAND}` from the copies that scikit-image,",
        "scikit-learn and matplotlib ship inside their wheels. Every photo was converted to RGB,",
        f"downscaled so that its longer side is at most {MAX_SIDE} px (Lanczos) and re-encoded as",
        "JPEG (quality 92); these are the only changes. The packages are build tools here, not",
        "runtime dependencies; `SAMPLES.json` is the machine-readable version of this table.",
        "",
        "| file | subject | licence | credit | source |",
        "|---|---|---|---|---|",
    ]
    for e in entries:
        lines.append(f"| `{e['filename']}` ({e['size'][0]}×{e['size'][1]}) | {e['subject']} | "
                     f"{e['licence']} | {e['credit']} | {e['source']}; file: {e['package_file']} |")
    lines += [
        "",
        "## Notes",
        "",
        "* **CC BY 2.0** (`flower.jpg`, `china.jpg`): reuse requires the attribution above, a link",
        "  to the licence (https://creativecommons.org/licenses/by/2.0/) and an indication of",
        "  changes (resized and re-encoded, as stated above). scikit-learn's",
        "  `datasets/images/README.txt` gives the attribution of `flower.jpg` as \"danielbuechele\"",
        "  (copied from the `china.jpg` entry) while its links point to the Flickr user",
        "  *vultilion*; we credit vultilion, the account the photo's URL belongs to.",
        "* **CC0** (`chelsea.jpg`, `coffee.jpg`): dedicated to the public domain by the",
        "  photographers, as stated in the `skimage.data` docstrings.",
        "* **Public domain** (`astronaut.jpg`: NASA; `rocket.jpg`: released into the public domain",
        "  by SpaceX in 2015, per the `skimage.data.rocket` docstring; `grace_hopper.jpg`: U.S. Navy",
        "  photograph). The Grace Hopper photo's status rests on its being a U.S. Navy work, as",
        "  recorded by the Wikimedia Commons page named in the file's JPEG comment; that page",
        "  could not be re-checked from this offline machine.",
        "* Portraits of real people (Eileen Collins, Grace Hopper): public-domain status covers",
        "  copyright only; do not use them in a way that implies endorsement.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    make()
