"""The Fashion-MNIST zoo's inference side: the catalogue (:mod:`.catalogue`), the architecture
families (:mod:`.families`) and one file per architecture (the CNN :mod:`.net`, :mod:`.ode_net`,
:mod:`.lt_node`, :mod:`.vit`, :mod:`.zerosnet`, the NTK kernel model :mod:`.kernel`), registered by
:mod:`.builtin`. Never imports :mod:`core.train`."""
