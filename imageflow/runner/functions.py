"""The service's Lambda functions as the local runtime runs them, read from ``serverless.yml``.

``serverless.yml`` is the one place that says which functions exist, which handler each runs, and with
what timeout and memory; the local runtime reads it instead of keeping its own table. What else the
runtime needs to know about a handler is derived from the handler itself:

* whether it publishes Powertools metrics (``@metrics.log_metrics``): such a handler runs one event at a
  time in-process, because Powertools' metric set is shared by the whole process;
* what a new Lambda container would forget: every ``functools.cache``/``lru_cache`` in the handlers'
  package (settings, clients).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from imageflow.paths import REPO_ROOT

SERVERLESS_YML = REPO_ROOT / "serverless.yml"


class ServiceDefinitionError(ValueError):
    """serverless.yml does not say what the local runtime needs (the message names the file and setting)."""


@dataclass(frozen=True)
class FunctionConfig:
    """One entry of serverless.yml's ``functions``, with the provider's defaults applied."""

    key: str  # the function's key in serverless.yml (``serialize``)
    handler: str  # as serverless.yml writes it: ``handlers/serialize.handler``
    timeout_seconds: int
    memory_mb: int

    @property
    def module(self) -> str:
        return self.handler.rpartition(".")[0].replace("/", ".")

    @property
    def attribute(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class ServiceDefinition:
    service: str
    functions: dict[str, FunctionConfig]

    def function_name(self, key: str, stage: str) -> str:
        """The deployed function's name, as the Serverless Framework names it."""
        return f"{self.service}-{stage}-{key}"


@functools.cache
def load_service(path: Path = SERVERLESS_YML) -> ServiceDefinition:
    """Read the service name and the functions' handlers, timeouts and memory sizes from ``path``."""
    with path.open(encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    provider = document.get("provider") or {}
    default_timeout = _integer(provider.get("timeout", 6), path, "provider.timeout")
    default_memory = _integer(provider.get("memorySize", 1024), path, "provider.memorySize")
    functions: dict[str, FunctionConfig] = {}
    for key, spec in (document.get("functions") or {}).items():
        handler = (spec or {}).get("handler")
        if not isinstance(handler, str) or "." not in handler:
            raise ServiceDefinitionError(f"{path}: functions.{key}.handler must be 'path/module.function'")
        functions[key] = FunctionConfig(
            key=key,
            handler=handler,
            timeout_seconds=_integer(spec.get("timeout", default_timeout), path, f"functions.{key}.timeout"),
            memory_mb=_integer(spec.get("memorySize", default_memory), path, f"functions.{key}.memorySize"),
        )
    if not functions:
        raise ServiceDefinitionError(f"{path}: no functions")
    service = document.get("service")
    if not isinstance(service, str):
        raise ServiceDefinitionError(f"{path}: 'service' must be the service's name")
    return ServiceDefinition(service, functions)


def _integer(value: Any, path: Path, setting: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceDefinitionError(f"{path}: {setting} must be a whole number for the local runtime, got {value!r}")
    return value


def publishes_metrics(handler: Callable[..., Any]) -> bool:
    """Whether ``handler`` is wrapped by a Powertools metrics provider's ``log_metrics``.

    The decorator keeps the handler in ``__wrapped__`` and its provider in the wrapper's closure; any layer
    of decorators closing over a provider counts.
    """
    from aws_lambda_powertools.metrics.provider.base import BaseProvider

    seen: set[int] = set()
    layer: Any = handler
    while layer is not None and id(layer) not in seen:
        seen.add(id(layer))
        for cell in getattr(layer, "__closure__", None) or ():
            try:
                if isinstance(cell.cell_contents, BaseProvider):
                    return True
            except ValueError:  # an empty cell
                continue
        layer = getattr(layer, "__wrapped__", None)
    return False


def handler_packages(service: ServiceDefinition | None = None) -> set[str]:
    """The top-level packages the functions' handlers live in (``handlers``)."""
    service = service or load_service()
    return {function.module.partition(".")[0] for function in service.functions.values()}


def _cached_functions(packages: set[str]) -> Iterator[Any]:
    for name, module in list(sys.modules.items()):
        if module is None or name.partition(".")[0] not in packages:
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", None) == name:
                yield value


def reset_handler_containers() -> None:
    """Forget every cached setting and client of the handlers, as a new Lambda container would."""
    for cached in _cached_functions(handler_packages()):
        cached.cache_clear()
