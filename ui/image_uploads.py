"""An uploaded ZIP archive or set of image files, read once per content (the Batch evaluation
page): the decoded images are kept in the session's store (released when the tab closes), so a
rerun never reads them again, and a refusal is kept too. The first read is stoppable work (a
progress bar, Stop and one of the server's concurrency slots) within the app's read budget
(``core.data.image_sets``)."""
from __future__ import annotations

from typing import Literal

from core.data.image_sets import ImageSet, ImageSetError, read_files, read_zip
from core.runtime.progress import Cancelled
from ui.common import image_tensor, session_store
from ui.long_work import stoppable_progress
from ui.run import fingerprint


def read_upload(kind: Literal["zip", "files"], content: bytes | list[tuple[str, bytes]], model_name: str,
                max_images: int, key: str) -> ImageSet:
    """The images of an uploaded archive (``kind="zip"``, its bytes) or files (``"files"``,
    ``[(name, bytes)]``), prepared for ``model_name``; ``key`` names the page's slot in the
    session store. Raises :class:`ImageSetError` with the reason when they cannot be used."""
    wanted = (kind, fingerprint(content), model_name, max_images)
    store = session_store()
    cached = store.get(key)
    if cached is not None and cached[0] == wanted:
        if isinstance(cached[1], ImageSetError):
            raise cached[1]
        return cached[1]
    prepare = lambda im: image_tensor(im, model_name)  # noqa: E731
    store.pop(key, None)  # the previous upload's images are released first
    try:
        with stoppable_progress("Reading the images…", key=key) as progress:
            images = (read_zip(content, prepare, max_images=max_images, progress=progress) if kind == "zip"
                      else read_files(content, prepare, max_images=max_images, progress=progress))
    except ImageSetError as e:
        store[key] = (wanted, e)
        raise
    except Cancelled as e:
        raise ImageSetError(f"Reading was stopped: {e}.") from None
    store[key] = (wanted, images)
    return images


__all__ = ["read_upload"]
