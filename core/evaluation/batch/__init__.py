"""Batch evaluation: a model and defenses over many images (:mod:`.evaluate`), streamed through the
local or the Ray engine (:mod:`.engine`, :mod:`.worker`, :mod:`.ray_engine`) into a resumable run
folder (:mod:`.runs`)."""
