"""Explanations: saliency maps (captum and custom), CIFS channel analysis, feature-map size probes.

* :mod:`core.explain.saliency` - gradient, occlusion and Grad-CAM maps through captum, plus the
  registry ``METHODS`` / ``compute_map`` that also covers the two custom maps below, and the
  agreement metrics between maps.
* :mod:`core.explain.perturbation` - Greydanus et al. (2018) blur-perturbation saliency.
* :mod:`core.explain.jacobian` - per-pixel Jacobian-norm map (Hoffman et al. 2019 quantity).
* :mod:`core.explain.channels` - CIFS-style positively / negatively relevant channel analysis.
* :mod:`core.explain.feature_maps` - feature-map sizes, noise sensitivity, smallest flipping ε.
"""
