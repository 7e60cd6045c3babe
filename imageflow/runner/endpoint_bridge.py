"""Serve ``sagemaker-runtime.InvokeEndpoint`` from the local endpoint in-process.

The classify handler keeps calling the real boto3 client; this hook answers it without the
HTTP round trip (the HTTP server in ``imageflow.endpoint.server`` serves the same endpoint
to other processes). Errors come back as SageMaker's error codes, so botocore raises
``ModelError``/``ValidationError`` exactly as against AWS.
"""

from __future__ import annotations

from typing import Any

from imageflow.endpoint.service import EndpointError, LocalEndpoint
from imageflow.runner.botocore_hooks import body_bytes, error, path_parameter, streaming, success


class EndpointBridge:
    def __init__(self, endpoint: LocalEndpoint) -> None:
        self.endpoint = endpoint

    def before_call(self, params: dict[str, Any], **_: Any) -> Any:
        """botocore ``before-call.sagemaker-runtime.InvokeEndpoint`` handler."""
        headers = params.get("headers", {})
        try:
            answer = self.endpoint.invoke(
                path_parameter(params, "endpoints"),
                body_bytes(params),
                headers.get("Content-Type", ""),
                headers.get("Accept"),
                headers.get("X-Amzn-SageMaker-Inference-Id"),
            )
        except EndpointError as exc:
            return error(exc.code, exc.message, exc.http_status)
        return success(
            {
                "Body": streaming(answer),
                "ContentType": "application/json",
                "InvokedProductionVariant": self.endpoint.variant_name,
            }
        )
