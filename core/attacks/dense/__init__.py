"""Attacks on dense predictions: person masks (:mod:`.segmentation`, targets in :mod:`.seg_targets`),
multi-class label maps (Dense PGD, Dense APGD, SegPGD, Dense Square; shared code in :mod:`.common`,
mIoU in :mod:`.metrics`) and ObsAtk on denoisers."""
