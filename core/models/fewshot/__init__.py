"""Few-shot segmentation models (one annotated support image, a query): the PANet-style prototype CNN
(:mod:`.proto`), its adversarially trained twin (:mod:`.at`), PNODE (:mod:`.pnode`: an ODE block after the
encoder) and R-PNODE (:mod:`.rpnode`: PNODE with the feature-agreement regularizer)."""
