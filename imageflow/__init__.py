"""Everything that runs outside Lambda: the local runtime, the model endpoint, the report and the CLI."""
