"""The local SageMaker-compatible model endpoint.

Modules: ``model`` (ONNX classifier), ``labels`` (label map), ``capture`` (Model Monitor data capture),
``service`` (``LocalEndpoint.invoke`` and SageMaker's error types), ``server`` (HTTP), ``cli`` (``serve``).
Nothing is imported here so that the ``imageflow`` CLI starts without loading onnxruntime.
"""
