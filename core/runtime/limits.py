"""Every limit on user-controlled work, in one place (bytes, pixels, steps, samples, batches).

Pages clamp their widgets to these values and ``core`` functions refuse values beyond them,
so neither a widget nor a URL parameter can make the server do unbounded work.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

# One upload limit. Streamlit's uploader (browser) counts a "MB" as 1,000,000 bytes; the server's
# own upload handler allows a little more (MiB), so the file that the browser lets through is the
# file that core accepts. .streamlit/config.toml's server.maxUploadSize must equal MAX_UPLOAD_MB
# (tests/hostile/test_hostile_safety.py reads it back); pages pass it to every uploader and show it in the
# uploader's help (ui/common.upload_help).
MAX_UPLOAD_MB = 20
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1_000_000  # per uploaded file
MAX_UPLOAD_FILES = 50  # files in one multi-file upload (the Batch page's "Image files")
MAX_IMAGE_PIXELS = 40_000_000  # width x height, checked before decoding (decompression bombs)
MAX_IMAGE_SIDE = 12_000
MAX_RESIZE_PIXELS = 4_000_000  # model preprocessing resizes at most this much (else crop first)

MAX_ATTACK_STEPS = 200
MAX_RESTARTS = 5
MAX_BATCH = 64
MAX_SMOOTHING_SAMPLES = 100_000
MAX_PURIFICATION_STEPS = 100
MAX_CW_ITERATIONS = 1000
MAX_SQUARE_QUERIES = 10_000  # Square Attack: forward passes per image and restart
MAX_ENSEMBLE_TARGETS = 9  # target classes of the ensemble's targeted APGD-DLR
MAX_EOT_EVALS = 32  # repeated evaluations of a randomized model (ensemble 'rand', audit)

# One pass through a model: N·H·W of the batch (checked by every forward of the shared models,
# core/models/wrappers.py and selfie_segmentation.py, whatever called it: attacks, EOT, patch
# ensembles, smoothing batches, captum's internal batches). Memory of a pass grows with it;
# with a gradient, EfficientNet-Lite0 needs ~90 MB per 224 px image.
MAX_FORWARD_PIXELS = 64 * 260 * 260  # ~4.3 M: 64 images at the largest input size, no gradient
MAX_GRAD_PIXELS = 40 * 224 * 224  # ~2.0 M with a gradient (Smooth-Reduce EOT: 4 draws x 9 patches fits)

# Long work in the app (ui/long_work.py)
MAX_WORK_SECONDS = 600.0  # one computation started from a page is cancelled after this long
MAX_CONCURRENT_WORK = 4  # computations running at once in one server; further ones wait

# Defenses (core/defenses/)
MAX_EQUIVARIANCE_VIEWS = 16  # views per purification step, identity excluded
MAX_SMOOTHING_BATCH = 1024  # noisy copies per forward pass
MAX_SMOOTHING_PATCHES = 64  # Smooth-Reduce patches per noisy sample
MAX_EOT_SAMPLES = 64  # noise draws averaged per adaptive (EOT) forward
MAX_SMOOTHING_KEEP = 16  # noisy samples kept per image for display
MAX_UPSAMPLE = 4.0  # feature-map-size defense: input upsampling factor
MAX_MEDIAN_KERNEL = 9

# Explanations (core/explain/)
MAX_IG_STEPS = 128  # integrated-gradients steps
MAX_SMOOTHGRAD_SAMPLES = 64  # noisy copies per SmoothGrad map
MAX_OCCLUSION_WINDOWS = 1024  # window positions per image (224 px, window 32, stride 16: 169)
MAX_PERTURBATION_CELLS = 1024  # grid cells of the blur-perturbation map (224 px, d = 28: 64)
MAX_JACOBIAN_ROWS = 32  # classes (top-k) or random projections of the Jacobian-norm map
MAX_BISECTION_EVALS = 32  # attack runs per smallest-ε bisection
MAX_FEATURE_SETTINGS = 6  # feature-map-size settings compared in one run
MAX_NOISE_DRAWS = 64  # noise draws of the feature-map noise-sensitivity probe
MAX_POOLING_TRIALS = 10_000  # trials of the average-vs-max pooling demo

# Curves, batch evaluation, reports (core/evaluation/curves.py, core/evaluation/batch/evaluate.py, core/data/image_sets.py)
MAX_CURVE_EPS = 16  # ε values per curve (= rows of one batched attack)
MAX_CURVE_SIGMAS = 8  # σ values of a certified-radius curve
MAX_EVAL_IMAGES = 200  # images per batch evaluation (app and command line)
MAX_ZIP_BYTES = MAX_UPLOAD_BYTES  # an uploaded archive (the upload limit)
MAX_ZIP_MEMBERS = 1000  # archive entries looked at; the rest are ignored with a message
MAX_ZIP_TOTAL_BYTES = 200 * 1024 * 1024  # declared uncompressed size of all members read
MAX_URL_VALUE_CHARS = 200  # one query-parameter value (longer values are ignored)

# Decode budget of one file (core/data/images.py), checked from the file's structure BEFORE decoding.
# Decode time of a progressive JPEG grows with scans x pixels (libjpeg re-reads its coefficient
# buffer for every scan): 2,000 scans of 40 MP took 5 s, 20,000 took 52 s. Ordinary progressive
# JPEGs have about 10 scans (libjpeg's default script for colour), 64 leaves a wide margin.
MAX_JPEG_SCANS = 64
MAX_JPEG_SEGMENTS = 4096  # marker segments before the first scan (APPn, DQT, DHT, COM ...)
MAX_PNG_CHUNKS = 20_000  # chunks of any kind (a 20 MB PNG written in 8 KB IDAT chunks has 2,500)
MAX_PNG_META_CHUNKS = 512  # ancillary (text, ICC, EXIF, private) chunks
MAX_PNG_META_BYTES = 8 * 1024 * 1024  # their stored bytes together

# Reading a set of images (core/image_sets.iter_images): budgets of one archive, folder, list or
# multi-file upload, checked as members are read (declared pixels from each header BEFORE decoding).
MAX_SET_PIXELS = 800_000_000  # server: sum of width x height over the files read (20 files of 40 MP)
MAX_SET_SECONDS = 120.0  # server: wall-clock for reading one set


@dataclass(frozen=True)
class ReadBudget:
    """What reading one set of images may cost; None = no cap (the command line)."""

    max_images: int | None  # images kept; more -> a note, reading stops
    max_total_pixels: int | None  # sum of declared width*height of every image file read (decoded or not)
    max_seconds: float | None  # wall-clock for reading the whole set
    max_file_bytes: int  # one member / file
    max_members: int | None  # entries looked at (archives/folders/lists)
    max_archive_bytes: int | None = None  # an archive given as bytes or a file
    max_total_bytes: int | None = None  # declared uncompressed bytes of all members read


def server_read_budget() -> ReadBudget:
    """The app's budget, from this module's values at call time (tests may lower them)."""
    return ReadBudget(max_images=MAX_EVAL_IMAGES, max_total_pixels=MAX_SET_PIXELS, max_seconds=MAX_SET_SECONDS,
                      max_file_bytes=MAX_UPLOAD_BYTES, max_members=MAX_ZIP_MEMBERS, max_archive_bytes=MAX_ZIP_BYTES,
                      max_total_bytes=MAX_ZIP_TOTAL_BYTES)


def cli_read_budget() -> ReadBudget:
    """The command line's larger budget: no cap on images, pixels, time or members (the user's
    own files, stoppable with Ctrl-C); per-file limits stay those of the app."""
    return ReadBudget(max_images=None, max_total_pixels=None, max_seconds=None, max_file_bytes=MAX_UPLOAD_BYTES,
                      max_members=None, max_archive_bytes=None, max_total_bytes=None)


SERVER_READ_BUDGET = server_read_budget()
CLI_READ_BUDGET = cli_read_budget()


def check_batch_pixels(x, grad: bool | None = None) -> None:
    """Refuse a batch ``x`` (N, C, H, W) whose N·H·W exceeds ``MAX_GRAD_PIXELS`` (when a
    gradient will flow: ``grad``, default ``torch.is_grad_enabled() and x.requires_grad``) or
    ``MAX_FORWARD_PIXELS``, with a ValueError saying so. Read at call time (tests may lower
    them)."""
    if getattr(x, "dim", None) is None or x.dim() != 4:
        return
    if grad is None:
        grad = bool(torch.is_grad_enabled() and x.requires_grad)
    n, _, h, w = x.shape
    cap = MAX_GRAD_PIXELS if grad else MAX_FORWARD_PIXELS
    if n * h * w > cap:
        raise ValueError(
            f"one pass would put {n} images of {h}×{w} through the model ({n * h * w / 1e6:.1f} M pixels"
            f"{', with gradients' if grad else ''}); the limit is {cap / 1e6:.1f} M pixels per pass. "
            "Use fewer samples, patches or images at once.")

# Models the user supplies (core/models/user/models_file.py, ui/user_models.py)
MAX_MODEL_FILE_BYTES = 2 * 1024 ** 3  # a weights or ONNX file named in the model description file
MAX_MODEL_UPLOAD_BYTES = MAX_UPLOAD_BYTES  # one uploaded weights/ONNX file (the server's upload limit)
MAX_MODEL_PARAMS = 400_000_000  # parameters of one user model (a ViT-L has ~300 M)
MAX_MODEL_INPUT_SIDE = 512  # input height/width a model description may ask for
MAX_SESSION_MODELS = 2  # uploaded models one browser session keeps (each is a full copy in memory)
