"""Every limit on user-controlled work, in one place (bytes, pixels, steps, samples, batches).

Pages clamp their widgets to these values and ``core`` functions refuse values beyond them,
so neither a widget nor a URL parameter can make the server do unbounded work.
"""
from __future__ import annotations

import torch

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # per uploaded file
MAX_IMAGE_PIXELS = 40_000_000  # width x height, checked before decoding (decompression bombs)
MAX_IMAGE_SIDE = 12_000
MAX_RESIZE_PIXELS = 4_000_000  # model preprocessing resizes at most this much (else crop first)

MAX_ATTACK_STEPS = 200
MAX_RESTARTS = 5
MAX_BATCH = 64
MAX_SMOOTHING_SAMPLES = 100_000
MAX_PURIFICATION_STEPS = 100
MAX_CW_ITERATIONS = 1000

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

# Curves, batch evaluation, reports (core/curves.py, core/evaluate.py, core/image_sets.py)
MAX_CURVE_EPS = 16  # ε values per curve (= rows of one batched attack)
MAX_CURVE_SIGMAS = 8  # σ values of a certified-radius curve
MAX_EVAL_IMAGES = 200  # images per batch evaluation (app and command line)
MAX_ZIP_BYTES = 20 * 1024 * 1024  # an uploaded archive (the server's upload limit is the same)
MAX_ZIP_MEMBERS = 1000  # archive entries looked at; the rest are ignored with a message
MAX_ZIP_TOTAL_BYTES = 200 * 1024 * 1024  # declared uncompressed size of all members read
MAX_URL_VALUE_CHARS = 200  # one query-parameter value (longer values are ignored)


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
