"""The command line, ``python -m core ...``: :mod:`.commands` (the parser and the ``evaluate``, ``audit`` and
``models`` commands), :mod:`.scale` (evaluation at scale: options, run, output files) and :mod:`.dense`
(``dense-eval``).

The top layer of ``core``: it may import every other part; nothing in ``core`` imports it."""
