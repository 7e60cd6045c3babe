"""A patch that keeps a long local run's memory flat: S3 objects that are deleted or replaced are released.

moto's ``BaseModel`` appends every instance it creates to its class's ``instances_tracked`` list (for the
moto server's dashboard and for closing files at reset), and ``S3Backend.delete_object`` on an unversioned
bucket only pops the key from the bucket: the ``FakeKey`` (with its spooled body), its ACL and grants stay
reachable from those lists until the mock is reset. A batch that uploads, ledgers and deletes 10,000 images
keeps all of them. The patch index (``imageflow.motopatch.index``) lists this patch with its test.
"""

from __future__ import annotations

import contextlib
from typing import Any

from imageflow.motopatch import private
from imageflow.motopatch.applied import once


def _untrack(instance: Any) -> None:
    tracked = getattr(type(instance), "instances_tracked", None)
    if isinstance(tracked, list):
        with contextlib.suppress(ValueError):
            tracked.remove(instance)


def release(key: Any) -> None:
    """Close a key's body and drop it, its ACL and grants from moto's instance lists."""
    key.dispose()
    acl = getattr(key, "acl", None)
    for grant in getattr(acl, "grants", None) or []:
        for grantee in getattr(grant, "grantees", None) or []:
            _untrack(grantee)
        _untrack(grant)
    if acl is not None:
        _untrack(acl)
    _untrack(key)


def _current(backend: Any, bucket_name: str, key_name: str) -> Any:
    """The key an unversioned bucket holds under ``key_name`` (None otherwise)."""
    try:
        bucket = backend.get_bucket(bucket_name)
    except Exception:  # no such bucket: the original call reports it
        return None
    if getattr(bucket, "is_versioned", True):
        return None  # older versions are still readable there
    return bucket.keys.get(key_name)


@once
def deleted_objects_are_released() -> None:
    """S3 objects deleted from, or replaced in, an unversioned bucket are freed.

    Upstream: ``delete_object`` pops the key from the bucket without disposing of it, a replacing
    ``put_object`` leaves the old key undisposed, and both stay in ``FakeKey.instances_tracked`` (with their
    ACL objects) until reset, so memory grows with every object a long run ever wrote.
    """
    fake_key = private.S3_OBJECT.load()
    original_put = private.S3_PUT_OBJECT.load()
    original_delete = private.S3_DELETE_OBJECT.load()

    def put_object(self: Any, bucket_name: str, key_name: str, value: bytes, *args: Any, **kwargs: Any) -> Any:
        previous = _current(self, bucket_name, key_name)
        new = original_put(self, bucket_name, key_name, value, *args, **kwargs)
        if isinstance(previous, fake_key) and previous is not new:
            release(previous)
        return new

    def delete_object(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        previous = _current(self, bucket_name, key_name)
        result = original_delete(self, bucket_name, key_name, *args, **kwargs)
        if isinstance(previous, fake_key) and _current(self, bucket_name, key_name) is not previous:
            release(previous)
        return result

    private.S3_PUT_OBJECT.replace(put_object)
    private.S3_DELETE_OBJECT.replace(delete_object)
