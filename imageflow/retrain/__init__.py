"""Retraining: the latest reviewed dataset version -> a training job -> evaluation -> promotion gate -> served."""
