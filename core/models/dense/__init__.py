"""Dense prediction models: MediaPipe selfie segmentation ported to PyTorch, the Garment U-Net, and
the denoisers (DnCNN and its HAT twin), with their registrations."""
