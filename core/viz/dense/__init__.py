"""Figures of the dense tasks: person masks and label maps (:mod:`.segmentation`), denoisers (:mod:`.denoise`)
and few-shot segmentation episodes (:mod:`.fewshot`)."""
