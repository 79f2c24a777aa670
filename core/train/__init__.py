"""Training recipes for the Fashion-MNIST model zoo (one method per file), their shared budget
and loop (:mod:`.common`), data (:mod:`.data`), which recipe trains which model
(:mod:`.recipes`), the model cards' evaluation (:mod:`.model_cards`) and the live attacks of the
zoo page (:mod:`.zoo_under_attack`). The architecture and the list of zoo models are
:mod:`core.models.zoo.net` and :mod:`core.models.zoo.catalogue`: training depends on them, never the
reverse.

Recipes: :mod:`.standard`, :mod:`.pgd_at` (Madry), :mod:`.trades` (β = 6), :mod:`.nfgsm`,
:mod:`.fgsm_tricks` (bag of tricks: masking, SiLU), :mod:`.jsigr` (reconstruction),
:mod:`.cifs` (with PGD-AT), :mod:`.feature_size` (stride, with PGD-AT). Issue 22: :mod:`.iat`
(interpolated adversarial training), :mod:`.cost_sensitive` (protected classes),
:mod:`.kernel_distill` (an NTK-distilled support set and a CNN trained on it), :mod:`.dial` and
:mod:`.ladder` (recipes with tests; no shipped model: not trained to the end on the project's
CPU); per-class numbers: :mod:`.per_class`. Issue 21: the neural ODEs' :mod:`.odenet`,
:mod:`.tisode` (Gaussian-noise training) and :mod:`.ltnode` (random end time).
"""
