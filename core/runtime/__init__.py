"""Where and how long work runs: the device (CUDA when present), progress callbacks that can stop a
computation, every limit on user-controlled work, and the repository paths.

The lowest layer of ``core``: it imports nothing else from ``core``."""
