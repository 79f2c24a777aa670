"""The Batch evaluation page's choice of images: the bundled photos (all or some), the labelled
ImageNet photos, an uploaded ZIP archive or several uploaded image files — read, prepared for
the chosen model, and with every file that was skipped listed for the reader. Uploads are read
once per content (:func:`ui.image_uploads.read_upload`)."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.runtime import limits
from core.cli.commands import cli_command
from core.evaluation.batch.evaluate import EvalSettings
from core.data.image_sets import ImageSet, ImageSetError, read_bundled, read_folder
from core.data.images import list_samples
from core.data.labelled_samples import LABELLED_DIR, TITLE
from core.data.safe_text import md
from ui.common import UPLOAD_TYPES, image_tensor, upload_help
from ui.image_uploads import read_upload

SOURCES = {"bundled": "Bundled photos", "labelled": TITLE["imagenet"], "zip": "ZIP archive", "files": "Image files"}


@dataclass
class ChosenImages:
    """What the reader chose: the images (None when there are none yet), and for the bundled
    photos the chosen samples' keys (None for the other sources)."""

    images: ImageSet | None
    sample_keys: list[str] | None = None


def choose_images(prefix: str, source: str, model_name: str, max_images: int) -> ChosenImages:
    """Draw the widgets of ``source`` (a value of :data:`SOURCES`) in the page's body and read
    its images for ``model_name``, at most ``max_images``; an unusable upload is said in an
    error and gives no images. Widget keys start with ``prefix``."""
    prepare = lambda im: image_tensor(im, model_name)  # noqa: E731
    chosen = ChosenImages(None)
    if source == SOURCES["bundled"]:
        samples = list_samples()
        chosen.sample_keys = st.multiselect(
            "Bundled photos", [s.key for s in samples], default=[s.key for s in samples], key=f"{prefix}_samples",
            format_func=lambda k: next(s.title for s in samples if s.key == k))
        if chosen.sample_keys:
            chosen.images = read_bundled(prepare, chosen.sample_keys, max_images=max_images)
    elif source == SOURCES["labelled"]:
        st.caption("20 ImageNet validation photos with their true labels (from the foolbox 3.3.4 wheel, MIT; "
                   "assets/labelled/LICENSES.md).")
        chosen.images = read_folder(LABELLED_DIR / "imagenet", prepare, max_images=max_images)
    elif source == SOURCES["zip"]:
        st.caption("Links cannot carry uploads: after opening a shared link, upload the archive again.")
        up = st.file_uploader(f"ZIP archive of images (at most {limits.MAX_UPLOAD_MB} MB)", type=["zip"],
                              key=f"{prefix}_zip", help=upload_help("zip"), max_upload_size=limits.MAX_UPLOAD_MB)
        if up is not None:
            # A file that the browser refuses (over the limit) never reaches the server, and Streamlit's
            # uploader keeps the previous one: say which file is in use.
            st.caption(f"In use: **{md(up.name)}** ({len(up.getvalue()) / 1e6:.2f} MB).")
            try:
                chosen.images = read_upload("zip", up.getvalue(), model_name, max_images, key=f"{prefix}_read")
            except ImageSetError as e:
                st.error(f"Could not use **{md(up.name)}**: {md(e, max_chars=600)}")
    else:
        st.caption("Links cannot carry uploads: after opening a shared link, upload the files again.")
        ups = st.file_uploader(f"Image files (at most {limits.MAX_UPLOAD_FILES}, {limits.MAX_UPLOAD_MB} MB each)",
                               type=UPLOAD_TYPES, accept_multiple_files=True, key=f"{prefix}_files",
                               help=upload_help("files"), max_upload_size=limits.MAX_UPLOAD_MB)
        if ups:
            try:
                chosen.images = read_upload("files", [(u.name, u.getvalue()) for u in ups], model_name, max_images,
                                            key=f"{prefix}_read")
            except ImageSetError as e:
                st.error(f"Could not use these files: {md(e, max_chars=600)}")
    images = chosen.images
    if images is not None and images.messages():
        with st.expander(f"{len(images.skipped) + images.more_skipped} file(s) skipped or ignored"):
            st.markdown("\n".join(f"- {md(m, max_chars=600)}" for m in images.messages()))
    return chosen


def cli_for(settings: EvalSettings, source: str, sample_keys: list[str] | None) -> str:
    """The command line that evaluates the same images with the same ``settings``: the labelled
    photos and the bundled ones by name (only the chosen samples when not all), an upload as a
    path for the reader to fill in."""
    if source == SOURCES["labelled"]:
        return cli_command(settings, "labelled-imagenet")
    if source == SOURCES["bundled"] and sample_keys:
        some = sorted(sample_keys) if len(sample_keys) < len(list_samples()) else None
        return cli_command(settings, "bundled", samples=some)
    return cli_command(settings, "path/to/folder-or.zip")


__all__ = ["SOURCES", "ChosenImages", "choose_images", "cli_for"]
