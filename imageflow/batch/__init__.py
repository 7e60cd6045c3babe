"""Batch runs and uploads outside Lambda: the upload rule's event simulated locally."""
