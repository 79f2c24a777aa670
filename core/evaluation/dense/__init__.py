"""Dense prediction: the dense worst case (:mod:`.worst_case`), the equivariance defense measured
on the garment scenes (:mod:`.equivariance_eval`), the Segmentation page's multi-class run
(:mod:`.page`) and the denoiser experiment (:mod:`.denoise`). The scenes themselves are made by
:mod:`core.data.scenes`, mIoU is :mod:`core.attacks.dense.metrics`."""
