"""Admission control of the WSGI application: bounded work per worker, the rest refused at once."""

from __future__ import annotations

import threading

import pytest

from imageflow.endpoint.service import ThrottlingError
from imageflow.endpoint.wsgi import Admission


def hold(admission: Admission, entered: threading.Event, release: threading.Event) -> threading.Thread:
    def run() -> None:
        with admission.admit():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_beyond_max_inflight_is_refused_at_once_and_a_freed_slot_admits_again() -> None:
    admission = Admission(max_inflight=1, concurrency=1)
    entered, release = threading.Event(), threading.Event()
    holder = hold(admission, entered, release)
    assert entered.wait(10)
    with pytest.raises(ThrottlingError) as info, admission.admit():
        pytest.fail("admitted beyond the limit")
    assert (info.value.code, info.value.http_status) == ("ThrottlingException", 429)
    assert info.value.message.startswith("Rate exceeded")
    assert admission.throttled == 1
    release.set()
    holder.join(10)
    with admission.admit():  # the slot came back
        pass


def test_admitted_requests_beyond_concurrency_wait_their_turn() -> None:
    admission = Admission(max_inflight=2, concurrency=1)
    first_in, release_first = threading.Event(), threading.Event()
    second_in, release_second = threading.Event(), threading.Event()
    first = hold(admission, first_in, release_first)
    assert first_in.wait(10)
    second = hold(admission, second_in, release_second)
    assert not second_in.wait(0.3)  # admitted, but the model is busy: it waits, it is not refused
    with pytest.raises(ThrottlingError), admission.admit():  # two held: a third is refused
        pass
    release_first.set()
    assert second_in.wait(10)
    release_second.set()
    first.join(10)
    second.join(10)
    assert admission.throttled == 1


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        Admission(max_inflight=0, concurrency=1)
