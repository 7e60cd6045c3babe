"""The review queue: low-confidence images recorded for labelling, Ground Truth export/import, dataset versions."""
