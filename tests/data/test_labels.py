"""True labels (core.data.labels): every source resolves to the right class, and every kind of mistake in
a label source gives a LabelError naming the file, the entry and the problem."""
from __future__ import annotations

import json

import pytest

from core.data.labels import AGREEMENT_NOTE, LabelError, Labeler, imagenet_wnids, parse_labels
from core.models.imagenet.classes import imagenet_classes

TINY = ["zero", "one", "two", "T-shirt/top", "crane", "crane"]  # a duplicated name, like ImageNet's "crane"


def lab(text, classes=TINY):
    return Labeler(parse_labels(text), classes)


def test_wordnet_ids_are_the_imagenet_class_order():
    ids = imagenet_wnids()
    names = imagenet_classes()
    assert len(ids) == 1000 and ids[0] == "n01440764" and names[0] == "tench"
    assert ids[243] == "n02108422" and names[243] == "bull mastiff"  # foolbox's imagenet_00_243.jpg
    lb = lab("folder", names)
    assert lb.label("n02108422/a.jpg") == 243
    assert lb.label("243/a.jpg") == 243
    assert lb.label("bull_mastiff/x/a.jpg") == 243 and lb.label("Bull Mastiff/a.jpg") == 243


def test_folder_labels_and_their_mistakes():
    lb = lab("folder")
    assert lb.labelled and lb.label("two/img.png") == 2 and lb.label("1/img.png") == 1
    assert lb.label("t-shirt_top/x.png") == 3  # "/" cannot be in a folder name: "_" stands for it
    with pytest.raises(LabelError, match="not inside a class folder"):
        lb.label("img.png")
    with pytest.raises(LabelError, match=r"“tow” is not a class name.*'two'"):
        lab("folder").label("tow/img.png")
    with pytest.raises(LabelError, match="out of range.*0..5"):
        lb.label("6/img.png")
    with pytest.raises(LabelError, match="ambiguous"):
        lb.label("crane/img.png")
    with pytest.raises(LabelError, match="WordNet id, but the model has 6 classes"):
        lb.label("n01440764/img.png")
    with pytest.raises(LabelError, match="not one of the 1000 ImageNet-1k WordNet ids"):
        lab("folder", imagenet_classes()).label("n99999999/img.png")


def test_pattern_labels():
    lb = lab("pattern", imagenet_classes())
    assert lb.label("sub/imagenet_00_243.jpg") == 243 and lb.label("x_7.png") == 7
    with pytest.raises(LabelError, match="does not match the label pattern"):
        lb.label("cat.jpg")
    with pytest.raises(LabelError, match="out of range"):
        lb.label("img_1000.jpg")
    assert lab(r"pattern:^c(\d)_").label("c2_a.png") == 2
    assert lab(r"pattern:(?P<label>[a-z]+)\.png$").label("x/one.png") == 1
    with pytest.raises(LabelError, match="not a valid regular expression"):
        parse_labels("pattern:(")
    with pytest.raises(LabelError, match="has no group"):
        parse_labels(r"pattern:\d+")


def test_agreement_mode_is_said():
    lb = lab(None)
    assert not lb.labelled and lb.label("anything.png") is None and lb.note() == AGREEMENT_NOTE
    assert "true accuracy" in lab("folder").note().lower()


def test_csv_and_json_files(tmp_path):
    c = tmp_path / "l.csv"
    c.write_text("file,label\na/x.png,two\ny.png,1\nz.png,T-shirt/top\n", encoding="utf-8")
    lb = lab(str(c))
    assert lb.label("a/x.png") == 2 and lb.label("deep/y.png") == 1 and lb.label("z.png") == 3
    assert len(lb.file_sha256) == 64
    c2 = tmp_path / "noheader.csv"
    c2.write_text("x.png,0\ny.png,2\n", encoding="utf-8")
    assert lab(str(c2)).label("y.png") == 2
    j = tmp_path / "l.json"
    j.write_text(json.dumps({"x.png": 0, "y.png": "one"}), encoding="utf-8")
    assert lab(str(j)).label("y.png") == 1
    j2 = tmp_path / "l2.json"
    j2.write_text(json.dumps([{"image": "x.png", "class": 2}]), encoding="utf-8")
    assert lab(str(j2)).label("x.png") == 2


@pytest.mark.parametrize("name,content,message", [
    ("dup.csv", "file,label\nx.png,1\nx.png,2\n", r"dup.csv, line 3: “x.png” is listed twice \(first at line 2\)"),
    ("dup.json", '{"x.png": 1, "x.png": 2}', r"dup.json, entry 2: “x.png” is listed twice"),
    ("range.csv", "file,label\nx.png,9\n", r"range.csv, line 2 \(“x.png”\): the label 9 is out of range"),
    ("neg.csv", "x.png,-1\n", "out of range"),
    ("unknown.csv", "file,label\nx.png,tow\n", r"“tow” is not a class name of the model. Did you mean 'two'"),
    ("ambig.json", '{"x.png": "crane"}', "ambiguous"),
    ("float.json", '{"x.png": 1.5}', "not a whole number"),
    ("bool.json", '{"x.png": true}', "not a class index or name"),
    ("nolabelcol.csv", "file,comment\nx.png,hello\n", "header without a label column"),
    ("three.csv", "x.png,1,extra\n", "needs a header .* or exactly two columns"),
    ("short.csv", "file,label\nx.png\n", "line 2: expected 2 columns, found 1"),
    ("emptyname.csv", "file,label\n,1\n", "the file name is empty"),
    ("emptylabel.csv", "file,label\nx.png,\n", "the label is empty"),
    ("empty.csv", "", "is empty"),
    ("headeronly.csv", "file,label\n", "has no entries"),
    ("bad.json", "{nope", "not valid JSON"),
    ("scalar.json", "3", "must hold an object"),
    ("entry.json", '[{"file": "x.png"}]', "entry 1: needs a file key"),
    ("latin1.csv", b"x\xe9.png,1\n", "not UTF-8"),
])
def test_label_file_mistakes(tmp_path, name, content, message):
    p = tmp_path / name
    (p.write_bytes if isinstance(content, bytes) else p.write_text)(content)
    with pytest.raises(LabelError, match=message):
        lab(str(p))


def test_missing_and_ambiguous_entries_are_refused_at_the_image(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("a/x.png,1\nb/x.png,2\ny.png,0\n", encoding="utf-8")
    lb = lab(str(p))
    assert lb.label("a/x.png") == 1 and lb.label("b/x.png") == 2
    with pytest.raises(LabelError, match="“c/x.png”: the label file has several entries named “x.png”"):
        lb.label("c/x.png")
    with pytest.raises(LabelError, match="“z.png” has no entry in the label file l.csv"):
        lb.label("z.png")


def test_bad_label_arguments(tmp_path):
    with pytest.raises(LabelError, match="does not exist"):
        parse_labels(str(tmp_path / "missing.csv"))
    with pytest.raises(LabelError, match="takes 'folder'"):
        parse_labels("labels.txt")
