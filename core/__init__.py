"""Core of the adversarial-robustness explorer: models, images, attacks, defenses, explanations.

Nothing in this package imports Streamlit; every page is a thin layer over functions here.
Images are float tensors in [0, 1] with shape (N, 3, H, W) throughout.
"""
