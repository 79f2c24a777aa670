"""Teaching mode as data: the page list, the guided tour, one-click presets and the glossary.

May import :mod:`core.runtime`, :mod:`core.data` and the attack descriptions of :mod:`core.attacks`;
never the evaluation, the figures or the command line."""
