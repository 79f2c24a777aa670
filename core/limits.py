"""Every limit on user-controlled work, in one place (bytes, pixels, steps, samples, batches).

Pages clamp their widgets to these values and ``core`` functions refuse values beyond them,
so neither a widget nor a URL parameter can make the server do unbounded work.
"""
from __future__ import annotations

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # per uploaded file
MAX_IMAGE_PIXELS = 40_000_000  # width x height, checked before decoding (decompression bombs)
MAX_IMAGE_SIDE = 12_000

MAX_ATTACK_STEPS = 200
MAX_RESTARTS = 5
MAX_BATCH = 64
MAX_SMOOTHING_SAMPLES = 100_000
MAX_PURIFICATION_STEPS = 100
MAX_CW_ITERATIONS = 1000

# Defenses (core/defenses/)
MAX_EQUIVARIANCE_VIEWS = 16  # views per purification step, identity excluded
MAX_SMOOTHING_BATCH = 1024  # noisy copies per forward pass
MAX_SMOOTHING_PATCHES = 64  # Smooth-Reduce patches per noisy sample
MAX_EOT_SAMPLES = 64  # noise draws averaged per adaptive (EOT) forward
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

# Curves, batch evaluation, reports (core/curves.py, core/evaluate.py, core/image_sets.py)
MAX_CURVE_EPS = 16  # ε values per curve (= rows of one batched attack)
MAX_CURVE_SIGMAS = 8  # σ values of a certified-radius curve
MAX_EVAL_IMAGES = 200  # images per batch evaluation (app and command line)
MAX_ZIP_BYTES = 20 * 1024 * 1024  # an uploaded archive (the server's upload limit is the same)
MAX_ZIP_MEMBERS = 1000  # archive entries looked at; the rest are ignored with a message
MAX_ZIP_TOTAL_BYTES = 200 * 1024 * 1024  # declared uncompressed size of all members read
MAX_URL_VALUE_CHARS = 200  # one query-parameter value (longer values are ignored)
