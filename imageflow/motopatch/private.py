"""Every private moto name the project touches, in one list, and the only way to reach them.

moto's public API is ``mock_aws``, its server and the AWS APIs it answers. Everything below is moto's
internals: module globals, classes, methods and the instance attributes the project reads or wraps. The
patches (``imageflow.motopatch``) and the in-process runtime's fast paths (``LocalS3``,
``LocalStepFunctions``) load them from here, so that:

* a name that moved fails with ``PrivateNameMoved``, naming the name and who relies on it, not with an
  ``AttributeError`` deep inside moto;
* ``check()`` (``make moto-check``) verifies every listed name against whichever moto is installed: that it
  exists, that a wrapped or called function still takes the parameters relied on, and that an instance
  attribute is still assigned in its class.

A name is written ``module:Qualified.name``; ``used_by`` names the patch (see ``imageflow.motopatch.index``)
or the module that relies on it.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any


class PrivateNameMoved(LookupError):
    """A private moto name the project relies on is not where (or what) it was."""

    def __init__(self, name: PrivateName, problem: str) -> None:
        self.name = name
        self.problem = problem
        super().__init__(
            f"moto {moto_version()}: {name.path} {problem}; relied on by {', '.join(name.used_by)}. "
            "Read that patch's docstring in imageflow/motopatch/, find where moto moved the name, and adapt "
            "the patch or remove it (its rule for going is in the patch index)."
        )


@dataclass(frozen=True)
class PrivateName:
    """One private name: where it lives, who relies on it, and what about it is relied on."""

    path: str  # "package.module:Class.attribute"
    used_by: tuple[str, ...]
    # A callable the project wraps or calls: the parameter names it passes or expects, in order.
    parameters: tuple[str, ...] | None = None
    # Instance attributes (set in __init__ or elsewhere in the class) read or written by the project.
    instance_attributes: tuple[str, ...] = ()

    @property
    def module(self) -> str:
        return self.path.partition(":")[0]

    @property
    def qualname(self) -> str:
        return self.path.partition(":")[2]

    def load(self) -> Any:
        """The object, or ``PrivateNameMoved`` saying what is missing."""
        try:
            target: Any = importlib.import_module(self.module)
        except ImportError as exc:
            raise PrivateNameMoved(self, f"cannot be imported ({exc})") from None
        for part in self.qualname.split(".") if self.qualname else ():
            try:
                target = inspect.getattr_static(target, part)
            except AttributeError:
                raise PrivateNameMoved(self, f"has no attribute {part!r}") from None
            if isinstance(target, staticmethod | classmethod):
                target = target.__func__
        return target

    def owner(self) -> Any:
        """The class or module that holds this name: where a patch replaces it."""
        head = self.qualname.rpartition(".")[0]
        if not head:
            return PrivateName(f"{self.module}:", self.used_by).load()
        return PrivateName(f"{self.module}:{head}", self.used_by).load()

    def replace(self, new: Any) -> None:
        """Put ``new`` where this name was (the patch itself)."""
        setattr(self.owner(), self.qualname.rpartition(".")[2], new)

    def verify(self) -> None:
        """Raise ``PrivateNameMoved`` if the name, its parameters or its instance attributes changed."""
        target = self.load()
        if self.parameters is not None:
            try:
                found = tuple(inspect.signature(target).parameters)
            except (TypeError, ValueError):
                raise PrivateNameMoved(self, "is no longer a function") from None
            if found[: len(self.parameters)] != self.parameters:
                raise PrivateNameMoved(self, f"now takes {found}, not {self.parameters}")
        for attribute in self.instance_attributes:
            if not _class_assigns(target, attribute):
                raise PrivateNameMoved(self, f"no longer sets the instance attribute {attribute!r}")


def _class_assigns(cls: type, attribute: str) -> bool:
    """Whether ``cls`` (or a base class) defines ``attribute`` or assigns ``self.<attribute>`` in its source."""
    assignment = re.compile(rf"\bself\.{re.escape(attribute)}\s*(?::[^=\n]+)?=[^=]")
    for klass in inspect.getmro(cls):
        if attribute in vars(klass) or attribute in getattr(klass, "__annotations__", {}):
            return True
        if klass.__module__.startswith("moto.") and assignment.search(_source(klass)):
            return True
    return False


@cache
def _source(klass: type) -> str:
    try:
        return inspect.getsource(klass)
    except (OSError, TypeError):
        return ""


def moto_version() -> str:
    try:
        return metadata.version("moto")
    except metadata.PackageNotFoundError:
        return "(not installed)"


def _name(path: str, *used_by: str, parameters: tuple[str, ...] | None = None, attributes: str = "") -> PrivateName:
    name = PrivateName(path, used_by, parameters, tuple(attributes.split()))
    NAMES.append(name)
    return name


NAMES: list[PrivateName] = []

# -- moto core -------------------------------------------------------------------------------------------
DEFAULT_USER_CONFIG = _name(
    "moto.core.config:default_user_config",
    "enable_state_machine_execution",
    "cloudformation_state_machines_are_executable",
)
BOTOCORE_STUBBER = _name("moto.core.models:botocore_stubber", "cached_boto_clients")
# raised from a model method, moto's server answers it as an AWS JSON error with a request id
MOTO_JSON_REST_ERROR = _name(
    "moto.core.exceptions:JsonRESTError",
    "lambda_invoke_runs_deployed_code",
    parameters=("error_type", "message"),
)
MOTO_SERVER_PORT = _name("moto.settings:moto_server_port", "cached_boto_clients", parameters=())
S3_CUSTOM_ENDPOINTS = _name("moto.settings:get_s3_custom_endpoints", "s3_url_table_reloaded_on_change", parameters=())

# -- S3 ----------------------------------------------------------------------------------------------------
S3_BACKENDS = _name("moto.s3.models:s3_backends", "LocalS3")
S3_BACKEND = _name("moto.s3.models:S3Backend", "LocalS3", "s3_url_table_reloaded_on_change", attributes="buckets")
S3_PUT_OBJECT = _name(
    "moto.s3.models:S3Backend.put_object",
    "LocalS3",
    "deleted_objects_are_released",
    parameters=("self", "bucket_name", "key_name", "value"),
)
S3_GET_OBJECT = _name("moto.s3.models:S3Backend.get_object", "LocalS3", parameters=("self", "bucket_name", "key_name"))
S3_DELETE_OBJECT = _name(
    "moto.s3.models:S3Backend.delete_object",
    "LocalS3",
    "deleted_objects_are_released",
    parameters=("self", "bucket_name", "key_name"),
)
S3_URL_MODULE = _name("moto.s3.models:S3Backend._url_module", "s3_url_table_reloaded_on_change")
S3_URLS = _name("moto.s3.urls:url_paths", "s3_url_table_reloaded_on_change")
S3_OBJECT = _name(
    "moto.s3.models:FakeKey", "LocalS3", "deleted_objects_are_released", attributes="value etag metadata acl disposed"
)
S3_MISSING_BUCKET = _name("moto.s3.exceptions:MissingBucket", "LocalS3")

# -- Step Functions (the ASL interpreter, ported from LocalStack) --------------------------------------------
SFN_PARSER_BACKENDS = _name(
    "moto.stepfunctions.parser.models:stepfunctions_parser_backends",
    "LocalStepFunctions",
    "cloudformation_state_machines_are_executable",
)
SFN_PARSER_BACKEND = _name("moto.stepfunctions.parser.models:StepFunctionsParserBackend", "LocalStepFunctions")
SFN_START_EXECUTION = _name(
    "moto.stepfunctions.parser.models:StepFunctionsParserBackend.start_execution",
    "LocalStepFunctions",
    "start_execution_generates_name",
    parameters=("self", "state_machine_arn", "name", "execution_input", "trace_header"),
)
SFN_DESCRIBE_EXECUTION = _name(
    "moto.stepfunctions.parser.models:StepFunctionsParserBackend.describe_execution",
    "LocalStepFunctions",
    parameters=("self", "execution_arn"),
)
SFN_DESCRIBE_STATE_MACHINE = _name(
    "moto.stepfunctions.parser.models:StepFunctionsParserBackend.describe_state_machine",
    "LocalStepFunctions",
    parameters=("self", "arn"),
)
SFN_STATE_MACHINE = _name("moto.stepfunctions.models:StateMachine", "LocalStepFunctions", attributes="executions")
SFN_PLAIN_BACKENDS = _name(
    "moto.stepfunctions.models:stepfunctions_backends", "cloudformation_state_machines_are_executable"
)
SFN_EXECUTION = _name(
    "moto.stepfunctions.parser.backend.execution:Execution",
    "LocalStepFunctions",
    "execution_end_signal",
    "interpreter_failure_fails_execution",
    attributes="exec_arn execution_arn exec_status error cause stop_date",
)
SFN_EXECUTION_START = _name(
    "moto.stepfunctions.parser.backend.execution:Execution.start", "execution_end_signal", parameters=("self",)
)
SFN_EXECUTION_DESCRIBE_OUTPUT = _name(
    "moto.stepfunctions.parser.backend.execution:Execution.to_describe_output", "LocalStepFunctions"
)
SFN_EXECUTION_HISTORY_OUTPUT = _name(
    "moto.stepfunctions.parser.backend.execution:Execution.to_history_output", "LocalStepFunctions"
)
SFN_EXECUTION_STATUS = _name("moto.stepfunctions.parser.api:ExecutionStatus", "interpreter_failure_fails_execution")
SFN_EXECUTION_WORKER = _name(
    "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker",
    "shared_parsed_program",
    "execution_end_signal",
    attributes="_evaluation_details _execution_communication",
)
SFN_EXECUTION_LOGIC = _name(
    "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker._execution_logic",
    "execution_end_signal",
    "interpreter_failure_fails_execution",
    "finished_threads_released",
    parameters=("self",),
)
SFN_EVALUATION_ENTRYPOINT = _name(
    "moto.stepfunctions.parser.backend.execution_worker:ExecutionWorker._get_evaluation_entrypoint",
    "shared_parsed_program",
    parameters=("self",),
)
SFN_WORKER_COMMUNICATION = _name(
    "moto.stepfunctions.parser.backend.execution:BaseExecutionWorkerCommunication",
    "execution_end_signal",
    "execution_result_written_before_status",
    attributes="execution",
)
SFN_REFLECT_EXECUTION_STATUS = _name(
    "moto.stepfunctions.parser.backend.execution:BaseExecutionWorkerCommunication._reflect_execution_status",
    "execution_result_written_before_status",
    parameters=("self",),
)
SFN_EVALUATION_DETAILS = _name(
    "moto.stepfunctions.parser.asl.eval.evaluation_details:EvaluationDetails",
    "shared_parsed_program",
    attributes="state_machine_details",
)
SFN_STATE_MACHINE_DETAILS = _name(
    "moto.stepfunctions.parser.asl.eval.evaluation_details:StateMachineDetails",
    "shared_parsed_program",
    attributes="definition",
)
# -- Distributed Map (imageflow.motopatch.distributed_map) ---------------------------------------------
_MAP = "moto.stepfunctions.parser.asl.component.state.exec.state_map"
SFN_ITEM_READER_S3_LIST = _name(
    f"{_MAP}.item_reader.eval.resource_eval_s3:ResourceEvalS3._handle_list_objects_v2",
    "item_reader_lists_every_object",
    parameters=("env", "resource_runtime_part", "state_credentials"),
)
SFN_ITEM_READER_S3_CLIENT = _name(
    f"{_MAP}.item_reader.eval.resource_eval_s3:ResourceEvalS3._get_s3_client",
    "item_reader_lists_every_object",
    parameters=("resource_runtime_part", "state_credentials"),
)
SFN_RESULT_WRITER_S3_PUT = _name(
    f"{_MAP}.result_writer.resource_eval.resource_eval_s3:ResourceEvalS3._handle_put_object",
    "result_writer_writes_result_files",
    parameters=("env", "resource_runtime_part", "state_credentials"),
)
SFN_RESULT_WRITER_S3_CLIENT = _name(
    f"{_MAP}.result_writer.resource_eval.resource_eval_s3:ResourceEvalS3._get_s3_client",
    "result_writer_writes_result_files",
    parameters=("resource_runtime_part", "state_credentials"),
)
SFN_RESULT_WRITER_EVAL = _name(
    f"{_MAP}.result_writer.result_writer_decl:ResultWriter._eval_body",
    "result_writer_writes_result_files",
    parameters=("self", "env"),
)
SFN_AWS_SDK_TASK = _name(
    "moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk:"
    "StateTaskServiceAwsSdk._eval_service_task",
    "aws_sdk_get_object_body_is_text",
    parameters=("self", "env", "resource_runtime_part", "normalised_parameters", "state_credentials"),
)
SFN_DISTRIBUTED_MAP_RUN = _name(
    f"{_MAP}.iteration.distributed_iteration_component:DistributedIterationComponent._map_run",
    "result_writer_writes_result_files",
    parameters=("self", "env", "eval_input"),
)
SFN_MAP_RUN_RECORD = _name(
    f"{_MAP}.iteration.itemprocessor.map_run_record:MapRunRecord",
    "result_writer_writes_result_files",
    attributes="map_run_arn",
)
SFN_TMP_THREADS = _name("moto.stepfunctions.parser.utils:TMP_THREADS", "finished_threads_released")
SFN_PARSER = _name(
    "moto.stepfunctions.parser.asl.parse.asl_parser:AmazonStateLanguageParser.parse",
    "shared_parsed_program",
    "definition_accepts_aws_map_settings",
    parameters=("definition",),
)
SFN_COMPONENT = _name("moto.stepfunctions.parser.asl.component.component:Component", "shared_parsed_program")
SFN_EVAL_COMPONENT = _name(
    "moto.stepfunctions.parser.asl.component.eval_component:EvalComponent.heap_key", "shared_parsed_program"
)
SFN_BOTO_CLIENT_FOR = _name(
    "moto.stepfunctions.parser.asl.utils.boto_client:boto_client_for",
    "cached_boto_clients",
    parameters=("region", "service", "state_credentials"),
)
SFN_TASK_STATES = _name("moto.stepfunctions.parser.asl.component.state.exec.state_task:__path__", "cached_boto_clients")
SFN_JSON_PATH_PARSE = _name("moto.stepfunctions.parser.asl.utils.json_path:parse", "cached_jsonpath_parse")
SFN_RESULT_PATH_PARSE = _name(
    "moto.stepfunctions.parser.asl.component.common.path.result_path:parse", "cached_jsonpath_parse"
)
SFN_EXECUTE_STATE_FROM_ERROR = _name(
    "moto.stepfunctions.parser.asl.component.state.exec.execute_state:ExecutionState._from_error",
    "runtime_error_cause_names_origin",
    parameters=("self", "env", "ex"),
)
SFN_FAILURE_EVENT = _name(
    "moto.stepfunctions.parser.asl.component.common.error_name.failure_event:FailureEvent",
    "runtime_error_cause_names_origin",
    attributes="error_name event_details",
)
SFN_FAILURE_EVENT_EXCEPTION = _name(
    "moto.stepfunctions.parser.asl.component.common.error_name.failure_event:FailureEventException",
    "runtime_error_cause_names_origin",
)
SFN_ENVIRONMENT_SET_ERROR = _name(
    "moto.stepfunctions.parser.asl.eval.environment:Environment.set_error",
    "runtime_error_cause_names_origin",
    parameters=("self", "error"),
)
SFN_PROGRAM_BODY = _name(
    "moto.stepfunctions.parser.asl.component.program.program:Program._eval_body",
    "runtime_error_cause_names_origin",
    parameters=("self", "env"),
)
_SERVICE_TASKS = "moto.stepfunctions.parser.asl.component.state.exec.state_task.service"
# every service integration whose error mapping reads ResponseMetadata.RequestId (moto 5.2.5)
SFN_SERVICE_ERROR_MAPPINGS = tuple(
    _name(
        f"{_SERVICE_TASKS}.state_task_service_{module}:{cls}._from_error",
        "service_errors_keep_their_names",
        parameters=("self", "env", "ex"),
    )
    for module, cls in (
        ("lambda", "StateTaskServiceLambda"),
        ("aws_sdk", "StateTaskServiceAwsSdk"),
        ("sfn", "StateTaskServiceSfn"),
        ("dynamodb", "StateTaskServiceDynamoDB"),
        ("batch", "StateTaskServiceBatch"),
        ("sns", "StateTaskServiceSns"),
    )
)
SFN_COMMON_STATE = _name(
    "moto.stepfunctions.parser.asl.component.state.state:CommonStateField",
    "runtime_error_cause_names_origin",
    attributes="name",
)

# -- CloudFormation -----------------------------------------------------------------------------------------
CFN_BACKEND = _name(
    "moto.cloudformation.models:CloudFormationBackend",
    "change_set_refreshes_outputs",
    attributes="change_sets stacks",
)
CFN_VALIDATE_TEMPLATE = _name(
    "moto.cloudformation.models:CloudFormationBackend.validate_template",
    "validate_template_errors_only",
    parameters=("self", "template"),
)
CFN_EXECUTE_CHANGE_SET = _name(
    "moto.cloudformation.models:CloudFormationBackend.execute_change_set",
    "change_set_refreshes_outputs",
    parameters=("self", "change_set_name", "stack_name"),
)
CFN_CHANGE_SET = _name(
    "moto.cloudformation.models:ChangeSet",
    "change_set_refreshes_outputs",
    attributes="change_set_name stack_id parameters",
)
CFN_STACK = _name(
    "moto.cloudformation.models:Stack",
    "change_set_refreshes_outputs",
    attributes="description template_dict parameters output_map",
)
CFN_PARSE_TEMPLATE = _name(
    "moto.cloudformation.models:Stack._parse_template", "change_set_refreshes_outputs", parameters=("self",)
)
CFN_CREATE_OUTPUT_MAP = _name(
    "moto.cloudformation.models:Stack._create_output_map", "change_set_refreshes_outputs", parameters=("self",)
)
CFN_CLEAN_JSON = _name(
    "moto.cloudformation.parsing:clean_json",
    "fn_sub_any_variable_name",
    "no_value_removes_list_items",
    parameters=("resource_json", "resources_map"),
)

# -- Lambda ----------------------------------------------------------------------------------------------------
LAMBDA_BACKENDS = _name("moto.awslambda.models:lambda_backends", "lambda_invoke_runs_deployed_code")
LAMBDA_FUNCTION = _name(
    "moto.awslambda.models:LambdaFunction",
    "lambda_invoke_runs_deployed_code",
    "cloudformation_functions_keep_layers",
    attributes=(
        "account_id region function_name function_arn handler run_time timeout memory_size environment_vars"
        " code_sha_256 code_bytes layers logs_backend logs_group_name architectures"
    ),
)
LAMBDA_INVOKE = _name(
    "moto.awslambda.models:LambdaFunction.invoke",
    "lambda_invoke_runs_deployed_code",
    parameters=("self", "body", "request_headers", "response_headers"),
)
LAMBDA_SAVE_LOGS = _name(
    "moto.awslambda.models:LambdaFunction.save_logs", "lambda_invoke_runs_deployed_code", parameters=("self", "output")
)
LAMBDA_LAYERS_DATA = _name(
    "moto.awslambda.models:LambdaFunction._get_layers_data",
    "cloudformation_functions_keep_layers",
    parameters=("self", "layers_versions_arns"),
)
LAMBDA_CREATE_FROM_CFN = _name(
    "moto.awslambda.models:LambdaFunction.create_from_cloudformation_json",
    "cloudformation_functions_keep_layers",
    parameters=("cls", "resource_name", "cloudformation_json", "account_id", "region_name"),
)
LAMBDA_LAYER_VERSION = _name(
    "moto.awslambda.models:LayerVersion",
    "cloudformation_functions_keep_layers",
    "lambda_invoke_runs_deployed_code",
    attributes="arn compatible_architectures code_sha_256 code_bytes",
)
LAMBDA_LAYER_FROM_CFN = _name(
    "moto.awslambda.models:LayerVersion.create_from_cloudformation_json",
    "cloudformation_functions_keep_layers",
    parameters=("cls", "resource_name", "cloudformation_json", "account_id", "region_name"),
)
LAMBDA_LAYERS_BY_ARN = _name(
    "moto.awslambda.models:LambdaBackend.layers_versions_by_arn",
    "lambda_invoke_runs_deployed_code",
    parameters=("self", "layer_version_arn"),
)
LOGS_ENSURE_GROUP = _name(
    "moto.logs.models:LogsBackend.ensure_log_group",
    "lambda_invoke_runs_deployed_code",
    parameters=("self", "log_group_name"),
)


def check() -> Iterator[PrivateNameMoved]:
    """Every listed name that moved or changed in the installed moto (nothing when all is well)."""
    for name in NAMES:
        try:
            name.verify()
        except PrivateNameMoved as moved:
            yield moved


# -- the in-process runtime's fast paths: moto's backends without the HTTP-shaped round trip ------------------
class BucketMissing(LookupError):
    """The bucket does not exist in the local S3."""


class LocalS3:
    """moto's S3 backend of one account, read and written in-process."""

    def __init__(self, account: str, partition: str = "aws") -> None:
        self._backend = S3_BACKENDS.load()[account][partition]

    def put_object(self, bucket: str, key: str, body: bytes) -> None:
        self._backend.put_object(bucket, key, body)

    def delete_object(self, bucket: str, key: str) -> None:
        self._backend.delete_object(bucket, key)

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str, str | None] | None:
        """``(body, etag, content type)``, None when there is no such key; ``BucketMissing`` for the bucket."""
        try:
            obj = self._backend.get_object(bucket, key)
        except S3_MISSING_BUCKET.load():
            raise BucketMissing(bucket) from None
        if obj is None:
            return None
        return obj.value, obj.etag, obj.metadata.get("content-type")


class LocalStepFunctions:
    """moto's Step Functions (interpreter) backend of one account and region, in-process."""

    def __init__(self, account: str, region: str) -> None:
        self._backend = SFN_PARSER_BACKENDS.load()[account][region]

    def start_execution(self, state_machine_arn: str, name: str, execution_input: str) -> str:
        execution = self._backend.start_execution(state_machine_arn, name=name, execution_input=execution_input)
        return execution.exec_arn

    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        """What DescribeExecution returns (moto's own serialisation of it)."""
        return self._backend.describe_execution(execution_arn).to_describe_output()

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """What GetExecutionHistory returns, all pages."""
        return self._backend.describe_execution(execution_arn).to_history_output()["events"]

    def forget_execution(self, state_machine_arn: str, execution_arn: str) -> None:
        """Drop a finished execution from moto's memory (moto keeps every execution otherwise)."""
        machine = self._backend.describe_state_machine(state_machine_arn)
        machine.executions[:] = [item for item in machine.executions if item.execution_arn != execution_arn]
