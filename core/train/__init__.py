"""Training recipes for the Fashion-MNIST model zoo (one method per file), their shared budget
and loop (:mod:`.common`), data (:mod:`.data`), which recipe trains which model
(:mod:`.recipes`), the model cards' evaluation (:mod:`.model_cards`) and the live attacks of the
zoo page (:mod:`.zoo_under_attack`). The architecture and the list of zoo models are
:mod:`core.models.zoo_net` and :mod:`core.models.zoo`: training depends on them, never the
reverse.

Recipes: :mod:`.standard`, :mod:`.pgd_at` (Madry), :mod:`.trades` (β = 6), :mod:`.nfgsm`,
:mod:`.fgsm_tricks` (bag of tricks: masking, SiLU), :mod:`.jsigr` (reconstruction),
:mod:`.cifs` (with PGD-AT), :mod:`.feature_size` (stride, with PGD-AT). TisODE is not
implemented.
"""
