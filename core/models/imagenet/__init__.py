"""The bundled ImageNet classifiers: EfficientNet-Lite0/1/2 (:mod:`.efficientnet_lite`), their
registration (:mod:`.builtin`) and the class names (:mod:`.classes`)."""
