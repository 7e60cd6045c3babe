"""The patch index: every change the project makes to moto's behaviour, with its test and when it can go.

Nothing else in the project changes a third-party library's behaviour. Each patch is a function whose
docstring says what upstream does and why the project changes it; the private moto names it relies on are
listed in ``imageflow.motopatch.private``. Two runtimes apply them:

* ``LOCAL_CLOUD``: the moto server behind ``sls deploy`` / ``sls invoke stepf`` (``imageflow local start``);
* ``IN_PROCESS``: ``LocalWorkflow``, the state machine and handlers in one process (``imageflow run``).

``make moto-check`` runs every patch's test against another moto release, in a throwaway environment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imageflow.motopatch import diagnostics, distributed_map, local_cloud, memory, results, speed

LOCAL_CLOUD = "local cloud"
IN_PROCESS = "in-process"
BOTH = frozenset({LOCAL_CLOUD, IN_PROCESS})

_FIXES_TEST = "tests/localcloud/test_moto_fixes.py"
_SPEED_TEST = "tests/motopatch/test_speed.py"
_DIAGNOSTICS_TEST = "tests/motopatch/test_diagnostics.py"
_MAP_TEST = "tests/motopatch/test_distributed_map.py"
_RESULTS_TEST = "tests/motopatch/test_results.py"
# the rule for a patch that works around a moto defect or missing feature
_WHEN_FIXED = "when its test passes with the patch left out on the moto release pinned in requirements-dev.txt"
# the rule for a speed-up: the cost it removes is gone upstream, or the local runtime no longer needs it
_WHEN_FAST = "when the benchmark (benchmarks/workflow_benchmark.py) shows no loss with the patch left out"


@dataclass(frozen=True)
class Patch:
    """One change to moto: the function that applies it, where it applies, its test, and when it can go."""

    apply: Callable[[], None]
    runtimes: frozenset[str]
    tests: tuple[str, ...]  # pytest node ids of the tests proving the behaviour the patch relies on or restores
    remove_when: str

    @property
    def name(self) -> str:
        return self.apply.__name__

    @property
    def summary(self) -> str:
        return (self.apply.__doc__ or "").strip().splitlines()[0]


# In the order they are applied: patches that wrap the same method apply innermost first (the failure
# handling sits inside the end signal, so a waiter wakes to the FAILED status).
PATCHES: tuple[Patch, ...] = (
    Patch(
        local_cloud.validate_template_errors_only,
        frozenset({LOCAL_CLOUD}),
        (f"{_FIXES_TEST}::test_validate_template_ignores_cfn_lint_warnings",),
        _WHEN_FIXED,
    ),
    Patch(
        local_cloud.fn_sub_any_variable_name,
        frozenset({LOCAL_CLOUD}),
        (f"{_FIXES_TEST}::test_fn_sub_substitutes_digit_leading_variables",),
        _WHEN_FIXED,
    ),
    Patch(
        local_cloud.no_value_removes_list_items,
        frozenset({LOCAL_CLOUD}),
        (f"{_FIXES_TEST}::test_no_value_removes_an_optional_policy_from_a_role",),
        _WHEN_FIXED,
    ),
    Patch(
        local_cloud.change_set_refreshes_outputs,
        frozenset({LOCAL_CLOUD}),
        (
            f"{_FIXES_TEST}::test_update_change_set_refreshes_outputs",
            f"{_FIXES_TEST}::test_a_stack_made_by_a_create_change_set_is_removed_and_deployed_again",
        ),
        _WHEN_FIXED,
    ),
    Patch(
        local_cloud.enable_state_machine_execution,
        frozenset({LOCAL_CLOUD}),
        (f"{_FIXES_TEST}::test_state_machine_executions_run",),
        "when moto's server executes state machines by default, or takes the setting at start-up",
    ),
    Patch(
        local_cloud.cloudformation_state_machines_are_executable,
        frozenset({LOCAL_CLOUD}),
        (f"{_FIXES_TEST}::test_cloudformation_state_machine_is_executable",),
        _WHEN_FIXED,
    ),
    Patch(
        local_cloud.start_execution_generates_name,
        frozenset({LOCAL_CLOUD}),
        (f"{_FIXES_TEST}::test_unnamed_executions_get_unique_names",),
        _WHEN_FIXED,
    ),
    Patch(
        local_cloud.cloudformation_functions_keep_layers,
        frozenset({LOCAL_CLOUD}),
        (f"{_FIXES_TEST}::test_cloudformation_function_keeps_its_layer",),
        _WHEN_FIXED,
    ),
    Patch(
        local_cloud.lambda_invoke_runs_deployed_code,
        frozenset({LOCAL_CLOUD}),
        (
            f"{_FIXES_TEST}::test_invoke_runs_deployed_code_like_the_lambda_runtime",
            f"{_FIXES_TEST}::test_fault_code_that_cannot_be_unzipped_fails_the_task_with_Lambda_ServiceException_not_States_Runtime",
        ),
        "when moto runs Python functions without Docker with the Lambda runtime's error payloads",
    ),
    Patch(
        diagnostics.runtime_error_cause_names_origin,
        BOTH,
        (
            f"{_DIAGNOSTICS_TEST}::test_in_process_a_pass_state_given_bad_json_names_the_exception_state_and_place",
            f"{_DIAGNOSTICS_TEST}::test_fault_lambda_bridge_raises_the_task_cause_names_the_exception_and_place",
            f"{_FIXES_TEST}::test_a_pass_state_given_bad_json_names_the_exception_state_and_place",
        ),
        "when moto's States.Runtime causes name the state and the place of the exception",
    ),
    Patch(
        diagnostics.service_errors_keep_their_names,
        BOTH,
        (
            f"{_DIAGNOSTICS_TEST}::test_fault_lambda_answers_a_bare_http_500_the_task_fails_as_Lambda_500_not_States_Runtime",
        ),
        _WHEN_FIXED,
    ),
    Patch(
        diagnostics.interpreter_failure_fails_execution,
        BOTH,
        (f"{_DIAGNOSTICS_TEST}::test_fault_program_lookup_raises_the_execution_fails_with_States_Runtime",),
        "when moto ends an execution whose interpreter thread raised (instead of leaving it RUNNING)",
    ),
    Patch(
        results.execution_result_written_before_status,
        BOTH,
        (
            f"{_RESULTS_TEST}::test_a_succeeded_execution_has_its_output_before_its_status",
            f"{_RESULTS_TEST}::test_a_failed_execution_has_its_error_and_cause_before_its_status",
            f"{_RESULTS_TEST}::test_a_tight_poller_never_reads_an_ended_execution_without_its_output",
        ),
        _WHEN_FIXED,
    ),
    Patch(
        speed.finished_threads_released,
        frozenset({IN_PROCESS}),
        (f"{_SPEED_TEST}::test_finished_executions_leave_no_threads_listed",),
        "when moto stops keeping finished threads in TMP_THREADS",
    ),
    Patch(
        speed.execution_end_signal,
        frozenset({IN_PROCESS}),
        (f"{_SPEED_TEST}::test_the_end_signal_comes_after_the_final_status",),
        "when moto offers a way to wait for an execution's end",
    ),
    Patch(
        speed.shared_parsed_program,
        BOTH,
        (f"{_SPEED_TEST}::test_concurrent_executions_of_one_program_match_an_unpatched_run",),
        _WHEN_FAST,
    ),
    Patch(
        speed.cached_boto_clients,
        frozenset({IN_PROCESS}),
        (f"{_SPEED_TEST}::test_clients_are_reused_per_session_and_renewed_with_it",),
        _WHEN_FAST,
    ),
    Patch(
        speed.cached_jsonpath_parse,
        BOTH,
        (f"{_SPEED_TEST}::test_concurrent_executions_of_one_program_match_an_unpatched_run",),
        _WHEN_FAST,
    ),
    Patch(
        speed.s3_url_table_reloaded_on_change,
        BOTH,
        (f"{_SPEED_TEST}::test_a_changed_custom_s3_endpoint_is_still_served",),
        _WHEN_FAST,
    ),
    # -- Distributed Map (classifyBatch) -----------------------------------------------------------------
    Patch(
        distributed_map.definition_accepts_aws_map_settings,
        BOTH,
        (f"{_MAP_TEST}::test_express_children_and_an_integer_tolerance_parse",),
        _WHEN_FIXED,
    ),
    Patch(
        distributed_map.item_reader_lists_every_object,
        BOTH,
        (f"{_MAP_TEST}::test_item_reader_lists_past_the_first_page_with_aws_items",),
        _WHEN_FIXED,
    ),
    Patch(
        distributed_map.result_writer_writes_result_files,
        BOTH,
        (f"{_MAP_TEST}::test_result_writer_writes_result_files_listed_in_its_manifest",),
        _WHEN_FIXED,
    ),
    Patch(
        distributed_map.aws_sdk_get_object_body_is_text,
        BOTH,
        (f"{_MAP_TEST}::test_an_aws_sdk_get_object_task_reads_the_body_as_text",),
        _WHEN_FIXED,
    ),
    Patch(
        memory.deleted_objects_are_released,
        BOTH,
        ("tests/motopatch/test_memory.py::test_deleted_and_replaced_objects_are_released",),
        _WHEN_FIXED,
    ),
)


def apply(runtime: str) -> None:
    """Apply every patch of ``runtime`` (once per process; safe to call again)."""
    for patch in PATCHES:
        if runtime in patch.runtimes:
            patch.apply()


def describe(runtime: str | None = None) -> str:
    """One line per patch, for ``--help``, logs and the README."""
    return "\n".join(
        f"- {patch.name} ({', '.join(sorted(patch.runtimes))}): {patch.summary}"
        for patch in PATCHES
        if runtime is None or runtime in patch.runtimes
    )
