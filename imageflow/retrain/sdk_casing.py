"""Step Functions' ``aws-sdk`` integrations speak PascalCase; moto's interpreter passes names through unchanged.

On AWS, every ``arn:aws:states:::aws-sdk:<service>:<action>`` task takes its parameters in PascalCase and
returns PascalCase fields, whatever casing the service's own API uses. moto's interpreter hands the
parameters to boto3 as written and returns boto3's result as it is, which is right for services whose API
is PascalCase already (S3, SageMaker, SNS) and wrong for the camelCase ones, such as Step Functions itself
(``listExecutions`` wants ``stateMachineArn``, answers ``executions``).

This module translates for the calls the project's state machines make, with botocore hooks on the session
the interpreter's clients come from: parameter names to the operation's own member names before validation,
and a PascalCase copy of each top-level result field after the call. One documented place, registered by
the local runtimes (``imageflow retrain``), tested in tests/retrain.
"""

from __future__ import annotations

from typing import Any

# (service id as botocore names events, operation) pairs the state machines call through aws-sdk
CAMEL_CASE_OPERATIONS = (("sfn", "ListExecutions"),)


def _pascal(name: str) -> str:
    return name[:1].upper() + name[1:]


def _to_member_names(params: dict[str, Any], model: Any, **_: Any) -> None:
    members = {name.lower(): name for name in model.input_shape.members} if model.input_shape else {}
    for key in list(params):
        target = members.get(key.lower())
        if target and target != key:
            params[target] = params.pop(key)


def _add_pascal_fields(parsed: dict[str, Any], **_: Any) -> None:
    for key in [k for k in parsed if k and k[0].islower()]:
        parsed.setdefault(_pascal(key), parsed[key])


def register(session: Any) -> None:
    """Install the translation on a boto3/botocore session (before its clients are created)."""
    for service, operation in CAMEL_CASE_OPERATIONS:
        session.events.register(f"provide-client-params.{service}.{operation}", _to_member_names)
        session.events.register(f"after-call.{service}.{operation}", _add_pascal_fields)
