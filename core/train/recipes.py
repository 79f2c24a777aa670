"""Which training recipe made which zoo model: recipe key -> class.

The zoo's catalogue (:mod:`core.models.zoo.catalogue`) names each model's recipe by key, so that loading
a model does not import the training code; this module is the other direction, used by
``tools/train_zoo.py`` and the tests that train.
"""
from __future__ import annotations

from core.models.zoo.catalogue import ZooEntry
from core.train.cifs import CIFS
from core.train.common import Recipe
from core.train.adversarial.cost_sensitive import CostSensitiveAT
from core.train.adversarial.dial import DIAL
from core.train.feature_size import FeatureSizeAT
from core.train.adversarial.fgsm_tricks import FGSMTricks
from core.train.adversarial.iat import IAT
from core.train.jsigr import JSIGR
from core.train.kernel_distill import KernelDistill, KernelDistilledCNN
from core.train.adversarial.ladder import LADDER
from core.train.ode.ltnode import LTNODE
from core.train.adversarial.nfgsm import NFGSM
from core.train.ode.odenet import ODENetNoise
from core.train.adversarial.pgd_at import PGDAT
from core.train.snode import SNODENCG, SNODEAdam, SNODEResNetCE
from core.train.standard import Standard
from core.train.ode.tisode import TisODE
from core.train.adversarial.trades import TRADES

RECIPES: dict[str, type[Recipe]] = {cls.key: cls for cls in (
    Standard, PGDAT, TRADES, NFGSM, FGSMTricks, JSIGR, CIFS, FeatureSizeAT,
    IAT, DIAL, CostSensitiveAT, KernelDistill, KernelDistilledCNN, LADDER,  # issue 22
    ODENetNoise, TisODE, LTNODE,  # issue 21: neural ODEs
    SNODENCG, SNODEAdam, SNODEResNetCE)}  # issue 37: standalone neural ODEs (trained by tools/train_snode.py)


def recipe_class(entry: ZooEntry) -> type[Recipe]:
    """The recipe class that trains zoo model ``entry``."""
    try:
        return RECIPES[entry.recipe]
    except KeyError:
        raise KeyError(f"zoo model {entry.name!r} names an unknown recipe {entry.recipe!r}; "
                       f"known: {', '.join(RECIPES)}") from None
