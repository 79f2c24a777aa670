"""Regenerate the bundled sample photos in assets/samples/ from packages that ship them.

    .venv/bin/pip install scikit-image==0.26.0 scikit-learn matplotlib   # tools only
    .venv/bin/python tools/make_samples.py

Each photo is converted to RGB, downscaled (never upscaled) so that its longer side is at most
512 px, and saved as JPEG quality 92. The manifest SAMPLES.json and LICENSES.md record source,
licence and credit. The app never imports these packages.
"""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "assets" / "samples"
MAX_SIDE = 512


def _skimage(name):
    import skimage.data

    return Image.fromarray(getattr(skimage.data, name)())


def _sklearn(name):
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name))


def _matplotlib(name):
    from matplotlib import cbook

    with cbook.get_sample_data(name) as f:
        return Image.open(f).convert("RGB")


SAMPLES = [
    dict(key="chelsea", title="Cat (Chelsea)", subject="cat", loader=lambda: _skimage("chelsea"),
         licence="CC0", credit="Stefan van der Walt", source="scikit-image 0.26 skimage.data.chelsea()"),
    dict(key="coffee", title="Coffee cup", subject="cup", loader=lambda: _skimage("coffee"),
         licence="CC0", credit="Rachel Michetti (courtesy of Pikolo Espresso Bar)",
         source="scikit-image 0.26 skimage.data.coffee()"),
    dict(key="astronaut", title="Astronaut (Eileen Collins)", subject="person", loader=lambda: _skimage("astronaut"),
         licence="Public domain", credit="NASA", source="scikit-image 0.26 skimage.data.astronaut()"),
    dict(key="grace_hopper", title="Portrait (Grace Hopper)", subject="person",
         loader=lambda: _matplotlib("grace_hopper.jpg"), licence="Public domain (U.S. Navy photograph)",
         credit="U.S. Navy", source="matplotlib 3.11 mpl-data/sample_data/grace_hopper.jpg"),
    dict(key="flower", title="Flower", subject="flower", loader=lambda: _sklearn("flower.jpg"),
         licence="CC BY 2.0", credit="vultilion (Flickr), retrieved by Robert Layton",
         source="scikit-learn sklearn/datasets/images/flower.jpg"),
    dict(key="china", title="Temple (China)", subject="building", loader=lambda: _sklearn("china.jpg"),
         licence="CC BY 2.0", credit="danielbuechele (Flickr), retrieved by Robert Layton",
         source="scikit-learn sklearn/datasets/images/china.jpg"),
    dict(key="rocket", title="Rocket launch (Falcon 9)", subject="rocket", loader=lambda: _skimage("rocket"),
         licence="Public domain", credit="SpaceX", source="scikit-image 0.26 skimage.data.rocket()"),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    manifest = []
    for s in SAMPLES:
        img = s["loader"]().convert("RGB")
        scale = MAX_SIDE / max(img.size)
        if scale < 1:
            img = img.resize((round(img.width * scale), round(img.height * scale)), Image.LANCZOS)
        filename = f"{s['key']}.jpg"
        img.save(OUT / filename, "JPEG", quality=92)
        manifest.append({k: s[k] for k in ("key", "title", "subject", "licence", "credit", "source")}
                        | {"filename": filename})
        print(f"{filename}: {img.width}x{img.height}")
    (OUT / "SAMPLES.json").write_text(json.dumps({"made_by": "python tools/make_samples.py",
                                                  "samples": manifest}, indent=2) + "\n")
    lines = ["# Bundled sample photos", "", "Made by `python tools/make_samples.py` (RGB, longer side at most "
             f"{MAX_SIDE} px, JPEG quality 92).", "", "| file | subject | licence | credit | source |",
             "|---|---|---|---|---|"]
    lines += [f"| {m['filename']} | {m['subject']} | {m['licence']} | {m['credit']} | {m['source']} |" for m in manifest]
    lines += ["", "CC BY 2.0: https://creativecommons.org/licenses/by/2.0/ — the photos were resized and "
              "re-encoded as JPEG. CC0: https://creativecommons.org/publicdomain/zero/1.0/"]
    (OUT / "LICENSES.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
