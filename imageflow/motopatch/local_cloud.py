"""Patches that let a Serverless deployment run end to end on a moto server: the local cloud.

Stock moto (5.2.x) cannot take a Serverless deployment and run its state machine end to end. Each patch
below works around one upstream behaviour; the patch index (``imageflow.motopatch.index``) lists them with
their tests (``tests/localcloud/test_moto_fixes.py``, against a real server process) and when each can go.
``aws_server`` applies them before serving.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import uuid
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from imageflow.localcloud.lambda_runtime import CodeArchive, FunctionSpec, LocalLambdaRuntime, log_tail
from imageflow.motopatch import diagnostics, private
from imageflow.motopatch.applied import once

logger = logging.getLogger(__name__)
_runtime: LocalLambdaRuntime | None = None


# -- CloudFormation ------------------------------------------------------------------------------------


@once
def validate_template_errors_only() -> None:
    """ValidateTemplate fails only on cfn-lint *errors*.

    Upstream: ``CloudFormationBackend.validate_template`` returns every cfn-lint match and
    ``ValidateTemplate`` raises on the first, so a warning such as W3005 (the redundant DependsOn that
    serverless-step-functions adds) rejects a template AWS accepts.
    """
    original = private.CFN_VALIDATE_TEMPLATE.load()

    def validate_template(self: Any, template: str) -> list[Any]:
        return [match for match in original(self, template) if match.rule.id.startswith("E")]

    private.CFN_VALIDATE_TEMPLATE.replace(validate_template)


_SUB_VARIABLE = re.compile(r"\$\{([^!}][^}]*)\}")


@once
def fn_sub_any_variable_name() -> None:
    """``Fn::Sub`` with a variable map substitutes every variable name, including digit-leading ones.

    Upstream: ``cloudformation.parsing.clean_json`` substitutes the map with ``string.Template``, whose
    identifiers cannot start with a digit, so ``${97d27463...}`` (the names serverless-step-functions
    generates for the Lambda ARNs in a state machine definition) stays in the definition unresolved.
    """
    original = private.CFN_CLEAN_JSON.load()

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        sub = resource_json.get("Fn::Sub") if isinstance(resource_json, dict) else None
        if isinstance(sub, list) and len(sub) == 2 and isinstance(sub[1], dict):
            template, variables = sub
            values = {name: str(clean_json(value, resources_map)) for name, value in variables.items()}

            def substitute(match: re.Match[str]) -> str:
                return values.get(match.group(1), match.group(0))

            # What the map does not name (pseudo parameters, resources) is left to moto's own handling.
            return original({"Fn::Sub": _SUB_VARIABLE.sub(substitute, template)}, resources_map)
        return original(resource_json, resources_map)

    # clean_json recurses through the module attribute, so nested Fn::Sub are fixed too.
    private.CFN_CLEAN_JSON.replace(clean_json)


@once
def no_value_removes_list_items() -> None:
    """``AWS::NoValue`` in a list removes the item, as it removes a property.

    Upstream: ``cloudformation.parsing.clean_json`` drops properties that evaluate to ``None`` (what
    ``Ref: AWS::NoValue`` becomes) but keeps ``None`` items in lists, so an optional policy written as
    ``Fn::If: [Condition, {PolicyName: ...}, Ref: AWS::NoValue]`` in a role's ``Policies`` fails the
    deployment (``TypeError: 'NoneType' object is not subscriptable`` in the IAM role's creation).
    """
    original = private.CFN_CLEAN_JSON.load()

    def clean_json(resource_json: Any, resources_map: Any) -> Any:
        cleaned = original(resource_json, resources_map)
        if isinstance(resource_json, list):
            return [item for item in cleaned if item is not None]  # a template has no null list items
        return cleaned

    # clean_json recurses through the module attribute, so nested lists are cleaned too.
    private.CFN_CLEAN_JSON.replace(clean_json)


@once
def change_set_refreshes_outputs() -> None:
    """Executing a change set recomputes the stack's template, parameters, Outputs and exports.

    Upstream: ``CloudFormationBackend.execute_change_set`` updates the resources but keeps the outputs of
    the previous template, so after ``sls deploy`` DescribeStacks has no ``ClassifyImageStateMachineArn``
    and ``sls invoke stepf`` reports that the state machine does not exist. Nor does it register the
    stack's exports (only ``create_stack`` does), so deleting a stack that osls created with a CREATE
    change set fails with ``KeyError`` on its export (``sls remove`` sees an HTTP 500), and
    ``Fn::ImportValue`` cannot see them.

    The change set is found as upstream finds it: by ARN, else the *last* one with that name. The change
    sets of a deleted stack stay listed (the name ``sls deploy`` uses never changes), so after ``sls
    remove`` the first one with the name belongs to the deleted stack.
    """
    original = private.CFN_EXECUTE_CHANGE_SET.load()

    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        named = [cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name]
        change_set = self.change_sets.get(change_set_name) or (named[-1] if named else None)
        original(self, change_set_name, stack_name)
        if change_set is None:
            return
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        if change_set.parameters:
            stack.parameters = change_set.parameters
        stack.output_map = stack._create_output_map()
        for export in stack.exports:
            self.exports[export.name] = export

    private.CFN_EXECUTE_CHANGE_SET.replace(execute_change_set)


# -- Step Functions ------------------------------------------------------------------------------------


@once
def enable_state_machine_execution() -> None:
    """Turn on moto's ASL interpreter (``stepfunctions.execute_state_machine``) for this process.

    Upstream default: executions are recorded but never run, and ``DescribeExecution`` stays RUNNING (or
    reports a canned SUCCEEDED), so ``sls invoke stepf`` never shows the workflow's real outcome.
    """
    private.DEFAULT_USER_CONFIG.load().setdefault("stepfunctions", {})["execute_state_machine"] = True


@once
def cloudformation_state_machines_are_executable() -> None:
    """State machines created by CloudFormation land in the backend that executes them.

    Upstream: with ``execute_state_machine`` on, the Step Functions API uses
    ``stepfunctions_parser_backends`` while ``StateMachine.*_from_cloudformation_json`` write to
    ``stepfunctions_backends``; a deployed state machine is then invisible to StartExecution.
    """
    default_user_config = private.DEFAULT_USER_CONFIG.load()
    stepfunctions_parser_backends = private.SFN_PARSER_BACKENDS.load()
    plain_backends = private.SFN_PLAIN_BACKENDS.load()

    class _ExecutableBackends:
        # The CloudFormation hooks look up the module global ``stepfunctions_backends[account][region]``
        # at call time; answer with the backend the API itself uses (same choice as responses.get_backend).
        def __getitem__(self, account_id: str) -> Any:
            executing = default_user_config.get("stepfunctions", {}).get("execute_state_machine", False)
            return (stepfunctions_parser_backends if executing else plain_backends)[account_id]

        def __getattr__(self, name: str) -> Any:
            return getattr(plain_backends, name)

    private.SFN_PLAIN_BACKENDS.replace(_ExecutableBackends())


@once
def start_execution_generates_name() -> None:
    """StartExecution without a ``name`` gets a fresh UUID, as on AWS.

    Upstream: the execution backend uses ``None`` as the name, so the ARN ends in ``:None`` and the
    second unnamed start (every ``sls invoke stepf`` passes no name) fails with ExecutionAlreadyExists.
    """
    original = private.SFN_START_EXECUTION.load()

    def start_execution(
        self: Any, state_machine_arn: str, name: Any = None, execution_input: Any = None, trace_header: Any = None
    ) -> Any:
        return original(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    private.SFN_START_EXECUTION.replace(start_execution)


# -- Lambda --------------------------------------------------------------------------------------------


def configure_lambda_runtime(work_dir: Path, extra_env: Mapping[str, str]) -> LocalLambdaRuntime:
    """Set where deployed code is unpacked and which variables (local endpoints) every function gets."""
    global _runtime
    _runtime = LocalLambdaRuntime(work_dir, extra_env)
    return _runtime


@once
def lambda_invoke_runs_deployed_code() -> None:
    """Invoke runs the function's deployed zip (with its layers) in a Python subprocess, without Docker.

    Upstream: ``LambdaFunction.invoke`` runs the code in a Docker container (none here: it answers
    ``error running docker`` with ``FunctionError: Handled``), and its Docker-free variant returns canned
    responses. Errors now come back as the Lambda runtime reports them: ``FunctionError: Unhandled`` and an
    ``errorType``/``errorMessage`` payload, so the state machine's Retry/Catch match the exception's class.

    A failure of the local runtime itself (code that cannot be unpacked, a Python that cannot start) comes
    back as the Lambda service reports its own failures: HTTP 500 ``ServiceException`` with a request id,
    whose message names the exception and where it was raised, so the state sees ``Lambda.ServiceException``.
    A layer version deleted since the function was created is named in that message too: AWS keeps deleted
    layer versions for the functions that use them, moto drops their bytes. moto's own errors pass unchanged.
    Left to moto's server, the exception became werkzeug's bare HTTP 500 page, which has no request id, and
    moto's Step Functions interpreter then failed the execution with ``States.Runtime`` (``KeyError:
    'RequestId'``; see ``diagnostics.service_errors_keep_their_names``).
    """
    lambda_backends = private.LAMBDA_BACKENDS.load()
    private.LAMBDA_SAVE_LOGS.load()
    private.LAMBDA_LAYERS_BY_ARN.load()
    private.LOGS_ENSURE_GROUP.load()
    json_error = private.MOTO_JSON_REST_ERROR.load()
    service_exception = _service_exception_class()

    def invoke(self: Any, body: str | bytes, request_headers: Any, response_headers: Any) -> bytes:
        if _runtime is None:
            raise RuntimeError("call local_cloud.configure_lambda_runtime() before invoking functions")
        if request_headers.get("x-amz-invocation-type") == "DryRun":
            return b""
        event = body.encode("utf-8") if isinstance(body, str) else (body or b"{}")
        try:
            spec = _function_spec(self, lambda_backends[self.account_id][self.region])
            if request_headers.get("x-amz-invocation-type") == "Event":
                # Asynchronous: accepted at once, run in the background, the way Lambda queues it.
                threading.Thread(target=_invoke_in_background, args=(self, spec, event), daemon=True).start()
                return b""
            result = _invoke_and_log(self, spec, event)
        except json_error:
            raise  # already an AWS error with a request id, named as Lambda names it
        except Exception as exc:
            logger.exception("the local Lambda runtime failed to run %s", self.function_name)
            raise service_exception(
                f"The local Lambda runtime failed to run {self.function_name}: {diagnostics.describe_exception(exc)}"
            ) from exc
        if result.function_error:
            response_headers["x-amz-function-error"] = result.function_error
        response_headers["x-amz-executed-version"] = "$LATEST"
        if request_headers.get("x-amz-log-type") == "Tail":
            response_headers["x-amz-log-result"] = base64.b64encode(log_tail(result.logs).encode()).decode()
        return result.payload

    private.LAMBDA_INVOKE.replace(invoke)


@once
def cloudformation_functions_keep_layers() -> None:
    """CloudFormation-created functions get their ``Layers`` and layer versions their ``LayerName``.

    Upstream: ``LambdaFunction.create_from_cloudformation_json`` copies neither ``Layers`` nor
    ``Architectures`` (the deployed function has no layer: Pillow is missing at run time);
    ``LayerVersion`` has no ``physical_resource_id``, so ``Ref`` yields the Python object's repr instead of
    the layer version ARN; and its ``LayerName`` property is ignored for a generated name.
    """
    layer_version = private.LAMBDA_LAYER_VERSION.load()
    layer_version.physical_resource_id = property(lambda self: self.arn)  # Ref -> the version ARN, as on AWS

    create_layer = private.LAMBDA_LAYER_FROM_CFN.load()

    def create_layer_version(cls: Any, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kw: Any):
        properties = cloudformation_json["Properties"]
        layer = create_layer(cls, properties.get("LayerName", resource_name), cloudformation_json, *args, **kw)
        if properties.get("CompatibleArchitectures"):
            layer.compatible_architectures = properties["CompatibleArchitectures"]
        return layer

    private.LAMBDA_LAYER_FROM_CFN.replace(classmethod(create_layer_version))

    create_function = private.LAMBDA_CREATE_FROM_CFN.load()
    private.LAMBDA_LAYERS_DATA.load()

    def create_function_with_layers(
        cls: Any, resource_name: str, cloudformation_json: dict[str, Any], *args: Any, **kw: Any
    ):
        function = create_function(cls, resource_name, cloudformation_json, *args, **kw)
        properties = cloudformation_json["Properties"]
        if properties.get("Layers"):
            function.layers = function._get_layers_data([str(arn) for arn in properties["Layers"]])
        if properties.get("Architectures"):
            function.architectures = properties["Architectures"]
        return function

    private.LAMBDA_CREATE_FROM_CFN.replace(classmethod(create_function_with_layers))


def _invoke_and_log(function: Any, spec: FunctionSpec, event: bytes) -> Any:
    assert _runtime is not None
    result = _runtime.invoke(spec, event)
    function.logs_backend.ensure_log_group(function.logs_group_name)
    function.save_logs(result.logs)  # so `sls logs` and GetLogEvents show the invocation
    return result


@cache  # one class, so that the errors raised here are instances of the class the patch catches
def _service_exception_class() -> type[Exception]:
    """Lambda's own HTTP 500 error, as moto's server answers an exception of its JSON error type."""
    json_error = private.MOTO_JSON_REST_ERROR.load()

    class ServiceException(json_error):  # type: ignore[misc, valid-type]
        code = 500

        def __init__(self, message: str) -> None:
            super().__init__("ServiceException", message)

    return ServiceException


def _invoke_in_background(function: Any, spec: FunctionSpec, event: bytes) -> None:
    try:
        _invoke_and_log(function, spec, event)
    except Exception:
        # no caller is waiting: the server log is where an asynchronous invocation's failure shows
        logger.exception("the local Lambda runtime failed to run %s (asynchronous invocation)", spec.name)


def _function_spec(function: Any, backend: Any) -> FunctionSpec:
    layers = []
    for layer in function.layers:
        version = backend.layers_versions_by_arn(layer["Arn"])
        if version is None:
            raise _service_exception_class()(
                f"The local Lambda runtime cannot run {function.function_name}: its layer version {layer['Arn']} "
                "has been deleted, and the local cloud keeps no copy of a deleted layer's code (AWS does). "
                "Deploy the function again with a current layer version."
            )
        layers.append(CodeArchive(version.code_sha_256, version.code_bytes))
    return FunctionSpec(
        name=function.function_name,
        arn=function.function_arn,
        handler=function.handler,
        runtime=function.run_time or "",
        timeout_seconds=float(function.timeout),
        memory_mb=int(function.memory_size),
        region=function.region,
        environment={str(k): str(v) for k, v in (function.environment_vars or {}).items()},
        code=CodeArchive(function.code_sha_256, function.code_bytes),
        layers=tuple(layers),
    )
