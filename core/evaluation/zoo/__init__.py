"""The Fashion-MNIST zoo under evaluation: the model cards' numbers (:mod:`.cards`), per-class
numbers (:mod:`.per_class`), the zoo page's live attacks (:mod:`.under_attack`) and its whole run with
saliency and channels (:mod:`.page`)."""
