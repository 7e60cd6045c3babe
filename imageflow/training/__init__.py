"""Training, evaluation and versioning of the classifier (transfer learning on the shipped MobileNetV2)."""
