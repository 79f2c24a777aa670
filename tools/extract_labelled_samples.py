"""Extract the labelled sample images that ship inside the foolbox 3.3.4 wheel into
``assets/labelled/`` (the "labelled ImageNet sample" of the Batch evaluation and Robustness curves
pages and of ``python -m core evaluate labelled-imagenet``).

    pip download --no-deps foolbox==3.3.4 -d /tmp/fb
    PYTHONPATH=. .venv/bin/python tools/extract_labelled_samples.py /tmp/fb/foolbox-3.3.4-py3-none-any.whl

The wheel (MIT licence, https://pypi.org/project/foolbox/3.3.4/) holds, under ``foolbox/data/``,
20 ImageNet validation photos ``imagenet_NN_LABEL.jpg`` (512×512 JPEG) and 20 Fashion-MNIST test
images ``fashionMNIST_NN_LABEL.png`` (28×28 grey), the label being the class index (ImageNet-1k
class order; Fashion-MNIST's 10 classes). The files are copied byte for byte (no re-encoding);
the script checks the wheel's SHA-256, writes ``SAMPLES.json`` (file, label, class name, source,
SHA-256 of each file) and ``LICENSES.md``, and copies foolbox's licence text. The wheel is fetched
at tool time only; nothing is downloaded when the app or the command line run.
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "assets" / "labelled"
WHEEL = "foolbox-3.3.4-py3-none-any.whl"
WHEEL_SHA256 = "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb"
WHEEL_URL = "https://pypi.org/project/foolbox/3.3.4/#files"
COMMAND = ("pip download --no-deps foolbox==3.3.4 -d /tmp/fb && PYTHONPATH=. .venv/bin/python "
           "tools/extract_labelled_samples.py /tmp/fb/foolbox-3.3.4-py3-none-any.whl")
SETS = {"imagenet": re.compile(r"^foolbox/data/(imagenet_\d\d_(\d+)\.jpg)$"),
        "fashion-mnist": re.compile(r"^foolbox/data/(fashionMNIST_\d\d_(\d+)\.png)$")}
FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def main(wheel: str) -> None:
    data = Path(wheel).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if sha != WHEEL_SHA256:
        sys.exit(f"{wheel}: SHA-256 {sha}, expected {WHEEL_SHA256} (foolbox 3.3.4 from PyPI)")
    sys.path.insert(0, str(ROOT))
    from core.models.imagenet.classes import imagenet_classes

    names = {"imagenet": imagenet_classes(), "fashion-mnist": FASHION}
    manifest: dict = {"source": f"foolbox 3.3.4 wheel ({WHEEL}, sha256 {WHEEL_SHA256}), {WHEEL_URL}",
                      "licence": "MIT (foolbox; see LICENSE-foolbox.txt)", "command": COMMAND, "sets": {}}
    with zipfile.ZipFile(Path(wheel)) as zf:
        licence = zf.read("foolbox-3.3.4.dist-info/LICENSE")
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "LICENSE-foolbox.txt").write_bytes(licence)
        for key, rx in SETS.items():
            folder = OUT / key
            folder.mkdir(exist_ok=True)
            entries = []
            for member in sorted(zf.namelist()):
                m = rx.match(member)
                if not m:
                    continue
                blob = zf.read(member)
                (folder / m.group(1)).write_bytes(blob)
                label = int(m.group(2))
                entries.append({"file": m.group(1), "label": label, "class_name": names[key][label],
                                "wheel_path": member, "sha256": hashlib.sha256(blob).hexdigest()})
            if len(entries) != 20:
                sys.exit(f"expected 20 {key} images in the wheel, found {len(entries)}")
            manifest["sets"][key] = entries
    (OUT / "SAMPLES.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    rows = "\n".join(f"| `{k}/{e['file']}` | {e['label']} | {e['class_name']} |"
                     for k, es in manifest["sets"].items() for e in es)
    (OUT / "LICENSES.md").write_text(f"""# Labelled sample images: source and licence

Copied byte for byte from the foolbox 3.3.4 wheel on PyPI ({WHEEL}, SHA-256 `{WHEEL_SHA256}`),
files `foolbox/data/imagenet_NN_LABEL.jpg` (20 ImageNet validation photos, 512×512) and
`foolbox/data/fashionMNIST_NN_LABEL.png` (20 Fashion-MNIST test images, 28×28 grey). foolbox is
released under the MIT licence (Copyright (c) 2020 Jonas Rauber et al.; full text in
`LICENSE-foolbox.txt`), under which it distributes these samples. The photos come from the
ImageNet validation set (whose images keep their owners' rights; they are used here, as in
foolbox, as a small research sample); Fashion-MNIST is © Zalando SE, MIT licence.

Made by:

```bash
{COMMAND}
```

The label is the number before the extension (ImageNet-1k / Fashion-MNIST class index);
`SAMPLES.json` lists every file with its label, class name and SHA-256.

| file | label | class |
|---|---|---|
{rows}
""", encoding="utf-8")
    print(f"wrote {sum(len(v) for v in manifest['sets'].values())} images to {OUT}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else f"/tmp/fb/{WHEEL}")
