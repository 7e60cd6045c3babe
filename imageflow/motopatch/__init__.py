"""Every change the project makes to moto, and every private moto name it touches.

* ``index``: the patch index (each patch, where it applies, its test, when it can go) and ``apply()``;
* ``private``: the adapter, the one place that names moto's internals, and its ``check()``;
* ``local_cloud``, ``diagnostics``, ``results``, ``speed``, ``distributed_map``, ``memory``: the patches;
* ``check``: ``make moto-check``, the patch tests against another moto release.
"""
