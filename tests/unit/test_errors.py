"""The exception tree: hierarchy, pickling with attributes, messages naming bucket@key."""

from __future__ import annotations

import pickle
from typing import Type

import pytest

from mictlanx_sync import errors as E

ALL: list[Type[E.MictlanXError]] = [getattr(E, name) for name in E.__all__]
SIMPLE = [cls for cls in ALL if cls is not E.TransferError]


def test_all_exported_errors_are_mictlanx_errors() -> None:
    assert len(ALL) == 18
    for cls in ALL:
        assert issubclass(cls, E.MictlanXError)
        assert issubclass(cls, Exception)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        (E.InvalidArgumentError, ValueError),
        (E.InvalidURIError, E.InvalidArgumentError),
        (E.InvalidURIError, ValueError),
        (E.MaxAvailabilityReachedError, E.AlreadyExistsError),
        (E.PreconditionFailedError, E.AlreadyExistsError),
        (E.ConnectFailedError, E.NetworkError),
        (E.RequestTimeoutError, E.NetworkError),
        (E.BadRequestError, E.ServerError),
        (E.ForbiddenError, E.ServerError),
    ],
)
def test_hierarchy(child: type, parent: type) -> None:
    assert issubclass(child, parent)


@pytest.mark.parametrize(
    ("cls", "not_parent"),
    [
        (E.NotFoundError, E.ServerError),
        (E.NetworkError, E.ServerError),
        (E.IntegrityError, E.NetworkError),
        (E.AlreadyExistsError, E.ServerError),
        (E.NotFoundError, ValueError),
        (E.TransferError, E.NetworkError),
    ],
)
def test_leaves_are_distinct(cls: type, not_parent: type) -> None:
    assert not issubclass(cls, not_parent)


def test_no_builtin_shadowing() -> None:
    assert not hasattr(E, "ConnectionError")
    assert not hasattr(E, "TimeoutError")


@pytest.mark.parametrize("cls", SIMPLE, ids=[c.__name__ for c in SIMPLE])
def test_every_error_pickles_with_its_attributes(cls: Type[E.MictlanXError]) -> None:
    detail = {"msg": "No available peers.", "code": 666, "replicas": ["p0"]}
    err = cls("it failed", bucket_id="media", key="clip_0", status=404, detail=detail)
    err.extra_note = "kept"  # type: ignore[attr-defined]
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert back.message == "it failed"
    assert back.bucket_id == "media"
    assert back.key == "clip_0"
    assert back.status == 404
    assert back.detail == detail
    assert back.extra_note == "kept"  # type: ignore[attr-defined]
    assert back.args == err.args
    assert str(back) == str(err)


@pytest.mark.parametrize("cls", SIMPLE, ids=[c.__name__ for c in SIMPLE])
def test_every_error_pickles_with_defaults(cls: Type[E.MictlanXError]) -> None:
    back = pickle.loads(pickle.dumps(cls("plain")))
    assert (back.bucket_id, back.key, back.status, back.detail) == (None, None, None, None)
    assert str(back) == "plain"


def test_transfer_error_pickles_with_indices_and_cause() -> None:
    cause = E.NotFoundError("chunk gone", bucket_id="b", key="k_2", status=404)
    err = E.TransferError("put failed", failed_indices=[2, 5], cause=cause, bucket_id="b", key="k")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is E.TransferError
    assert back.failed_indices == (2, 5)
    assert isinstance(back.cause, E.NotFoundError)
    assert back.cause.key == "k_2"
    assert back.cause.status == 404
    assert back.bucket_id == "b" and back.key == "k"
    assert str(back) == str(err)


def test_transfer_error_defaults_and_str() -> None:
    err = E.TransferError("get failed", failed_indices=range(1, 2), cause=ValueError("x"), bucket_id="b",
                          key="k")
    assert err.failed_indices == (1,)
    text = str(err)
    assert "get failed" in text and "[b@k]" in text and "[1]" in text and "ValueError('x')" in text
    plain = E.TransferError("t")
    assert plain.failed_indices == () and plain.cause is None and plain.status is None


def test_str_names_bucket_at_key_and_status() -> None:
    err = E.NotFoundError("GET x failed: missing", bucket_id="media", key="clip_0", status=404)
    assert str(err) == "GET x failed: missing [media@clip_0] (HTTP 404)"
    assert "media@clip_0" in str(E.ServerError("boom", bucket_id="media", key="clip_0"))
    assert str(E.ServerError("boom", bucket_id="media")) == "boom [media@]"
    assert str(E.ServerError("boom", key="k")) == "boom [@k]"
    assert str(E.ServerError("boom", status=500)) == "boom (HTTP 500)"


def test_errors_can_be_raised_from_a_cause() -> None:
    with pytest.raises(E.NetworkError) as info:
        try:
            raise OSError("reset")
        except OSError as exc:
            raise E.NetworkError("broke") from exc
    assert isinstance(info.value.__cause__, OSError)


def test_invalid_argument_is_caught_as_value_error() -> None:
    with pytest.raises(ValueError):
        raise E.InvalidArgumentError("bad id")
