"""Measuring and judging robustness: the worst-case ensemble, robustness curves, statistics (exact
intervals, paired tests), batch evaluation and its engines (:mod:`.batch`), the gradient-masking audit
(:mod:`.audit`), the Claims page's rows and verdicts (:mod:`.claims`), the zoo's cards and live views
(:mod:`.zoo`), dense prediction's evaluations (:mod:`.dense`), and the Attack Lab's run.

May import models, attacks, defenses, explanations, training (the zoo's recipes for cards), teaching
(presets a Claims row links to), data and runtime; never the figures (:mod:`core.viz`) or the command line."""
