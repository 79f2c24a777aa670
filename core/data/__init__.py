"""Data in and out: decoding and validating images (uploads, folders, ZIP archives), the bundled and
labelled samples, true labels, escaping user-derived text for each sink, Fashion-MNIST and the
generated garment scenes.

May import :mod:`core.runtime` only (and, for type hints alone, :mod:`core.models.spec`)."""
