"""The retrainModel state machine on the local cloud: the same bridges as in-process, inside the moto server.

``sls invoke stepf --name retrainModel --stage local`` runs the deployed ASL on the moto server's interpreter,
whose ``aws-sdk`` tasks call boto3 from the server process's default session. Installing the SageMaker bridge
(a real training job process, the local model registry, endpoint updates) and the aws-sdk casing translation
on that session makes those tasks do real work, as ``imageflow retrain`` does in-process. Called once by
``imageflow.localcloud.aws_server`` before the server starts.
"""

from __future__ import annotations

from typing import Any

import boto3

from imageflow.retrain import sdk_casing
from imageflow.retrain.sagemaker_bridge import SageMakerBridge


def install(aws_url: str, region: str, endpoint_name: str) -> SageMakerBridge:
    """Hook the server process's default boto3 session; returns the bridge (its state lives for the server)."""
    from imageflow.registry.store import Registry

    session: Any = boto3.DEFAULT_SESSION or boto3.setup_default_session() or boto3.DEFAULT_SESSION
    sdk_casing.register(session)
    # the bridge's own S3 client comes from a separate session: its calls need no hooks
    s3 = boto3.session.Session().client(
        "s3", endpoint_url=aws_url, region_name=region, aws_access_key_id="test", aws_secret_access_key="test"
    )
    bridge = SageMakerBridge(s3, Registry.open(), region=region, endpoint_name=endpoint_name)
    bridge.register(session)
    return bridge
