"""Models the user supplies: the TOML description file (:mod:`.models_file`), weight files
(:mod:`.checkpoint`), architectures and what each offers (:mod:`.architectures`), ONNX import
(:mod:`.onnx_import`) and torchvision segmenters (:mod:`.segmentation`)."""
