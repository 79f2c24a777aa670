"""Training recipes for the Fashion-MNIST model zoo (one method per file) and their shared
architecture (:mod:`.arch`), budget and loop (:mod:`.common`), data (:mod:`.data`), evaluation
(:mod:`.evaluate`) and the list of zoo models (:mod:`.zoo`).

Recipes: :mod:`.standard`, :mod:`.pgd_at` (Madry), :mod:`.trades` (β = 6), :mod:`.nfgsm`,
:mod:`.fgsm_tricks` (bag of tricks: masking, SiLU), :mod:`.jsigr` (reconstruction),
:mod:`.cifs` (with PGD-AT), :mod:`.feature_size` (stride, with PGD-AT). TisODE is not
implemented.
"""
