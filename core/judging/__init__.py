"""How sure a number is and what it may be called: exact intervals, paired tests and power
(:mod:`.stats`), and the judgement words the pages print, with their thresholds (:mod:`.pages`).

Pure rules on numbers (NumPy, SciPy): may import :mod:`core.runtime` only, so that every other part
(models that judge a probe, the glossary that quotes a threshold, the evaluation) can use them."""
