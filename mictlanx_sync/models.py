"""attrs wire models for every JSON shape of the MictlanX API v4 (PROTOCOL §3).

Every model has ``from_json()`` (tolerant of what a real router sends: numeric strings for ints,
``peers_ids``, ``is_disable``, unknown extra fields) and ``to_json()`` (exactly the field names and
JSON types the reference clients validate against).
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple, Type, TypeVar, cast

import attrs

from . import _protocol
from .errors import InvalidArgumentError

__all__ = [
    "Metadata", "PutMetadataRequest", "PeerPutMetadataResponse", "PutMetadataResponse",
    "GetMetadataResponse", "PeerPutChunkedResponse", "RouterPutChunkedResponse",
    "PeerPutDataResponse", "GroupedBallResponse", "BallMetadata", "GetBucketMetadataResponse",
    "GetRouterBucketMetadataResponse", "PeerStatsResponse", "GetUFSResponse", "BallBasicData",
    "GetSizeByKey", "DeletedByKeyResponse", "DeletedByBallIdResponse", "PeerPayload", "PeerInfo",
    "PeersResponse", "HealthResponse", "ReplicateResponse", "StoragePeerResponse",
]

M = TypeVar("M", bound="_Model")


# --- lax converters (pydantic v2 lax mode, PROTOCOL §2.6) ----------------------------------------
def to_int(value: Any) -> int:
    """An int from an int, an integral float or a numeric string; anything else is refused."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise InvalidArgumentError(f"expected an integer, got {value!r}")


def to_float(value: Any) -> float:
    """A float from a number or a numeric string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise InvalidArgumentError(f"expected a number, got {value!r}")


def to_str(value: Any) -> str:
    """A str; numbers are refused (pydantic's str fields refuse them too)."""
    if isinstance(value, str):
        return value
    raise InvalidArgumentError(f"expected a string, got {value!r}")


def to_bool(value: Any) -> bool:
    """A bool from true/false, 0/1 or their string spellings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "0", "1"):
        return value.lower() in ("true", "1")
    raise InvalidArgumentError(f"expected a boolean, got {value!r}")


def to_tags(value: Any) -> Dict[str, str]:
    """A str -> str map; non-string values are refused (tag values must be JSON strings)."""
    if type(value) is not dict and not isinstance(value, Mapping):  # dict first: typing's check is slow
        raise InvalidArgumentError(f"expected an object of strings, got {value!r}")
    out: Dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or not isinstance(item, str):
            raise InvalidArgumentError(f"tag {name!r} must map a string to a string, got {item!r}")
        out[name] = item
    return out


def to_str_list(value: Any) -> Tuple[str, ...]:
    """A tuple of strings from a JSON array of strings."""
    if not isinstance(value, (list, tuple)):
        raise InvalidArgumentError(f"expected an array of strings, got {value!r}")
    return tuple(to_str(item) for item in value)


def to_dict(value: Any) -> Dict[str, Any]:
    """A JSON object (``None`` becomes ``{}``)."""
    if value is None:
        return {}
    if type(value) is not dict and not isinstance(value, Mapping):
        raise InvalidArgumentError(f"expected an object, got {value!r}")
    return dict(value)


def to_metadata_list(value: Any) -> Tuple[Metadata, ...]:
    """A tuple of Metadata from a JSON array of objects (or Metadata instances)."""
    if not isinstance(value, (list, tuple)):
        raise InvalidArgumentError(f"expected an array of metadata objects, got {value!r}")
    return tuple(item if isinstance(item, Metadata) else Metadata.from_json(item) for item in value)


def to_metadata(value: Any) -> Metadata:
    """A Metadata from an object (or a Metadata instance)."""
    return value if isinstance(value, Metadata) else Metadata.from_json(value)


class _Model:
    """Shared ``from_json``/``to_json`` for the attrs models below."""

    @classmethod
    def from_json(cls: Type[M], data: Any) -> M:
        """Build the model from decoded JSON, ignoring unknown fields.

        Raises:
            InvalidArgumentError: a required field is missing or a value has the wrong type.
        """
        if type(data) is not dict and not isinstance(data, Mapping):
            raise InvalidArgumentError(f"invalid {cls.__name__}: expected a JSON object, got {data!r:.200}")
        data = cls._adapt(data)
        kwargs: Dict[str, Any] = {}
        for name, required in _field_specs(cls):
            if name in data:
                kwargs[name] = data[name]
            elif required:
                raise InvalidArgumentError(f"invalid {cls.__name__}: missing field {name!r}")
        try:
            return cls(**kwargs)
        except InvalidArgumentError as exc:
            name = cls._failing_field(kwargs)
            where = f" field {name!r}" if name else ""
            raise InvalidArgumentError(f"invalid {cls.__name__}{where}: {exc.message}") from exc

    @classmethod
    def _failing_field(cls, kwargs: Mapping[str, Any]) -> str:
        """The name of the first field whose converter refuses its value ("" if none does)."""
        for field in attrs.fields(cls):  # type: ignore[arg-type]
            converter = field.converter
            if field.name not in kwargs or not callable(converter):
                continue
            try:
                converter(kwargs[field.name])
            except InvalidArgumentError:
                return str(field.name)
        return ""

    @classmethod
    def _adapt(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """Hook for spelling quirks of real servers; the identity by default."""
        return data

    def to_json(self) -> Dict[str, Any]:
        """The model as JSON-ready data, with the exact wire field names."""
        return _fields_json(self)


# (field name, required) of each model class, in field order: ``attrs.fields`` walked per reply
# cost more than the few lookups it answers.
_SPECS: Dict[type, Tuple[Tuple[str, bool], ...]] = {}


def _field_specs(cls: type) -> Tuple[Tuple[str, bool], ...]:
    specs = _SPECS.get(cls)
    if specs is None:  # a race computes the same tuple twice: harmless
        specs = tuple((field.name, field.default is attrs.NOTHING)
                      for field in attrs.fields(cast("Type[attrs.AttrsInstance]", cls)))
        _SPECS[cls] = specs
    return specs


def _fields_json(instance: Any) -> Dict[str, Any]:
    """An attrs instance's fields as JSON-ready data, as ``attrs.asdict(recurse=True)`` with every
    collection made a list would give (nested models as plain field dicts, not their ``to_json``),
    without asdict's generic machinery."""
    return {name: _jsonable(getattr(instance, name)) for name, _ in _field_specs(type(instance))}


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or kind is float or value is None:
        return value
    if isinstance(value, dict):
        return {_jsonable(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if attrs.has(kind):
        return _fields_json(value)
    return value


@attrs.frozen(kw_only=True)
class Metadata(_Model):
    """One ball's metadata (PROTOCOL §3.1)."""

    key: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)
    checksum: str = attrs.field(converter=to_str)
    tags: Dict[str, str] = attrs.field(converter=to_tags)
    content_type: str = attrs.field(converter=to_str)
    producer_id: str = attrs.field(converter=to_str)
    ball_id: str = attrs.field(converter=to_str)
    bucket_id: str = attrs.field(default="", converter=to_str)
    is_disabled: bool = attrs.field(default=False, converter=to_bool)

    @classmethod
    def _adapt(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        if "is_disabled" not in data and "is_disable" in data:
            data = {**data, "is_disabled": data["is_disable"]}
        if data.get("tags", {}) is None:
            data = {**data, "tags": {}}
        return data

    def holds_chunk(self, checksum: str, tags: Mapping[str, str]) -> bool:
        """Whether this stored ball is the chunk described by ``checksum`` and ``tags``: the same
        bytes *and* the same place in the same object (``full_checksum``, ``num_chunks``, ``index``
        tags), so a chunk of another version with equal bytes does not count."""
        return self.checksum == checksum and all(
            self.tags.get(name) == tags.get(name)
            for name in (_protocol.TAG_FULL_CHECKSUM, _protocol.TAG_NUM_CHUNKS, _protocol.TAG_INDEX))

    def to_peer_json(self) -> Dict[str, Any]:
        """The body of a peer's step 1 (PROTOCOL §3.2): ``is_disable``, no replication factor."""
        body = self.to_json()
        body["is_disable"] = body.pop("is_disabled")
        return body


@attrs.frozen(kw_only=True)
class PutMetadataRequest(_Model):
    """The router's step-1 body, ``PutMetadataDTO`` (PROTOCOL §3.3)."""

    bucket_id: str = attrs.field(converter=to_str)
    key: str = attrs.field(converter=to_str)
    ball_id: str = attrs.field(converter=to_str)
    checksum: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)
    producer_id: str = attrs.field(converter=to_str)
    tags: Dict[str, str] = attrs.field(factory=dict, converter=to_tags)
    content_type: str = attrs.field(default="application/octet-stream", converter=to_str)
    is_disabled: bool = attrs.field(default=False, converter=to_bool)
    replication_factor: int = attrs.field(default=1, converter=to_int)

    @classmethod
    def _adapt(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        defaults = {"tags": {}, "content_type": "application/octet-stream", "is_disabled": False,
                    "replication_factor": 1}
        return {**data, **{k: v for k, v in defaults.items() if data.get(k, v) is None}}

    def to_metadata(self) -> Metadata:
        """The ball metadata this request describes."""
        return Metadata(key=self.key, size=self.size, checksum=self.checksum, tags=self.tags,
                        content_type=self.content_type, producer_id=self.producer_id,
                        ball_id=self.ball_id, bucket_id=self.bucket_id, is_disabled=self.is_disabled)


@attrs.frozen(kw_only=True)
class PeerPutMetadataResponse(_Model):
    """A peer's step-1 reply (PROTOCOL §3.4); ``service_time`` is an integer."""

    key: str = attrs.field(converter=to_str)
    service_time: int = attrs.field(converter=to_int)
    task_id: str = attrs.field(converter=to_str)
    node_id: str = attrs.field(converter=to_str)


@attrs.frozen(kw_only=True)
class PutMetadataResponse(_Model):
    """A router's step-1 reply (PROTOCOL §3.5); ``tasks_ids`` holds one group id."""

    key: str = attrs.field(converter=to_str)
    service_time: float = attrs.field(converter=to_float)
    tasks_ids: Tuple[str, ...] = attrs.field(default=(), converter=to_str_list)
    bucket_id: str = attrs.field(default="", converter=to_str)
    replicas: Tuple[str, ...] = attrs.field(default=(), converter=to_str_list)
    extra: Dict[str, Any] = attrs.field(factory=dict, converter=to_dict)

    @property
    def checked_if_none_match(self) -> bool:
        """The router checked ``If-None-Match: *`` (no live peer held the key): the local VSS
        says so in ``extra``; a real MictlanX router never does."""
        return self.extra.get(_protocol.EXTRA_PRECONDITION) == _protocol.PRECONDITION_IF_NONE_MATCH


@attrs.frozen(kw_only=True)
class GetMetadataResponse(_Model):
    """Metadata of one key with who holds it and who answered (PROTOCOL §3.6)."""

    service_time: int = attrs.field(converter=to_int)
    peer_id: str = attrs.field(converter=to_str)
    local_peer_id: str = attrs.field(converter=to_str)
    metadata: Metadata = attrs.field(converter=to_metadata)


@attrs.frozen(kw_only=True)
class PeerPutChunkedResponse(_Model):
    """A peer's streamed step-2 reply (PROTOCOL §3.7); all seven fields are required."""

    node_id: str = attrs.field(converter=to_str)
    combined_key: str = attrs.field(converter=to_str)
    bucket_id: str = attrs.field(converter=to_str)
    key: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)
    throughput: float = attrs.field(converter=to_float)
    service_time: float = attrs.field(converter=to_float)


@attrs.frozen(kw_only=True)
class RouterPutChunkedResponse(_Model):
    """A router's streamed step-2 reply (PROTOCOL §3.7)."""

    peer_ids: Tuple[str, ...] = attrs.field(converter=to_str_list)
    combined_key: str = attrs.field(converter=to_str)
    bucket_id: str = attrs.field(converter=to_str)
    key: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)


@attrs.frozen(kw_only=True)
class PeerPutDataResponse(_Model):
    """Our peers' multipart step-2 reply; callers only need a 2xx (PROTOCOL §4.3)."""

    service_time: int = attrs.field(default=0, converter=to_int)
    throughput: float = attrs.field(default=0.0, converter=to_float)


@attrs.frozen(kw_only=True)
class GroupedBallResponse(_Model):
    """A peer's members of one ball_id (PROTOCOL §3.8)."""

    bucket_id: str = attrs.field(converter=to_str)
    ball_id: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)
    balls: Tuple[Metadata, ...] = attrs.field(converter=to_metadata_list)


@attrs.frozen(kw_only=True)
class BallMetadata(_Model):
    """A router's chunk listing of one ball_id (PROTOCOL §3.9); ``size`` is a human string."""

    bucket_id: str = attrs.field(converter=to_str)
    ball_id: str = attrs.field(converter=to_str)
    size: str = attrs.field(converter=str)
    size_bytes: int = attrs.field(converter=to_int)
    checksum: str = attrs.field(converter=to_str)
    chunks: Tuple[Metadata, ...] = attrs.field(converter=to_metadata_list)


@attrs.frozen(kw_only=True)
class GetBucketMetadataResponse(_Model):
    """A peer's bucket listing (PROTOCOL §3.10)."""

    peer_id: str = attrs.field(converter=to_str)
    balls: Tuple[Metadata, ...] = attrs.field(converter=to_metadata_list)


@attrs.frozen(kw_only=True)
class GetRouterBucketMetadataResponse(_Model):
    """A router's bucket listing (PROTOCOL §3.10); reads ``peers_ids`` too and writes both."""

    bucket_id: str = attrs.field(converter=to_str)
    peer_ids: Tuple[str, ...] = attrs.field(default=(), converter=to_str_list)
    balls: Tuple[Metadata, ...] = attrs.field(default=(), converter=to_metadata_list)
    extra: Dict[str, Any] = attrs.field(factory=dict, converter=to_dict)

    @classmethod
    def _adapt(cls, data: Mapping[str, Any]) -> Mapping[str, Any]:
        if "peer_ids" not in data and "peers_ids" in data:
            data = {**data, "peer_ids": data["peers_ids"]}
        return data

    def to_json(self) -> Dict[str, Any]:
        """JSON with both ``peer_ids`` (the client's field) and ``peers_ids`` (the router's)."""
        body = super().to_json()
        body["peers_ids"] = list(body["peer_ids"])
        return body


@attrs.frozen(kw_only=True)
class PeerStatsResponse(_Model):
    """A peer's stats (PROTOCOL §3.11): exactly these seven keys on the wire."""

    peer_id: str = attrs.field(converter=to_str)
    used_disk: int = attrs.field(converter=to_int)
    total_disk: int = attrs.field(converter=to_int)
    available_disk: int = attrs.field(converter=to_int)
    disk_uf: float = attrs.field(converter=to_float)
    balls: Tuple[Metadata, ...] = attrs.field(factory=tuple, converter=to_metadata_list)
    peers: Tuple[str, ...] = attrs.field(factory=tuple, converter=to_str_list)


@attrs.frozen(kw_only=True)
class GetUFSResponse(_Model):
    """A peer's disk use (PROTOCOL §3.11)."""

    total_disk: int = attrs.field(converter=to_int)
    used_disk: int = attrs.field(converter=to_int)
    disk_uf: float = attrs.field(converter=to_float)


@attrs.frozen(kw_only=True)
class BallBasicData(_Model):
    """One entry of a peer's ``/xballs`` listing (PROTOCOL §3.12)."""

    bucket_id: str = attrs.field(converter=to_str)
    key: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)


@attrs.frozen(kw_only=True)
class GetSizeByKey(_Model):
    """A peer's size of one key (PROTOCOL §3.12)."""

    bucket_id: str = attrs.field(converter=to_str)
    key: str = attrs.field(converter=to_str)
    peer_id: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)


@attrs.frozen(kw_only=True)
class ReplicateResponse(_Model):
    """A peer's replication reply (PROTOCOL §3.12)."""

    peer_id: str = attrs.field(converter=to_str)
    replica_peer_id: str = attrs.field(converter=to_str)
    bucket_id: str = attrs.field(converter=to_str)
    key: str = attrs.field(converter=to_str)
    size: int = attrs.field(converter=to_int)
    ok: bool = attrs.field(converter=to_bool)
    response_time: int = attrs.field(converter=to_int)


@attrs.frozen(kw_only=True)
class StoragePeerResponse(_Model):
    """A peer's description of another peer (PROTOCOL §3.12)."""

    id: str = attrs.field(converter=to_str)
    disk: int = attrs.field(converter=to_int)
    memory: int = attrs.field(converter=to_int)
    ip_addr: str = attrs.field(converter=to_str)
    port: int = attrs.field(converter=to_int)
    weight: float = attrs.field(converter=to_float)
    used_disk: int = attrs.field(converter=to_int)
    used_memory: int = attrs.field(converter=to_int)


@attrs.frozen(kw_only=True)
class DeletedByKeyResponse(_Model):
    """A router's delete-by-key reply (PROTOCOL §3.13)."""

    n_deletes: int = attrs.field(converter=to_int)
    key: str = attrs.field(converter=to_str)


@attrs.frozen(kw_only=True)
class DeletedByBallIdResponse(_Model):
    """A router's delete-by-ball-id reply (PROTOCOL §3.13)."""

    n_deletes: int = attrs.field(converter=to_int)
    ball_id: str = attrs.field(converter=to_str)


@attrs.frozen(kw_only=True)
class PeerPayload(_Model):
    """A peer to register at a router (PROTOCOL §3.14)."""

    protocol: str = attrs.field(converter=to_str)
    peer_id: str = attrs.field(converter=to_str)
    hostname: str = attrs.field(converter=to_str)
    port: int = attrs.field(converter=to_int)

    def base_url(self) -> str:
        """The peer's base URL."""
        return f"{self.protocol}://{self.hostname}:{self.port}"


@attrs.frozen(kw_only=True)
class PeerInfo(_Model):
    """One peer in a router's ``GET /peers`` reply (PROTOCOL §5.3)."""

    peer_id: str = attrs.field(converter=to_str)
    ip_addr: str = attrs.field(converter=to_str)
    port: int = attrs.field(converter=to_int)
    protocol: str = attrs.field(default="http", converter=to_str)
    api_version: int = attrs.field(default=4, converter=to_int)


def _to_peer_infos(value: Any) -> Tuple[PeerInfo, ...]:
    if not isinstance(value, (list, tuple)):
        raise InvalidArgumentError(f"expected an array of peers, got {value!r}")
    return tuple(item if isinstance(item, PeerInfo) else PeerInfo.from_json(item) for item in value)


@attrs.frozen(kw_only=True)
class PeersResponse(_Model):
    """A router's ``GET /peers`` reply: available and unavailable peers."""

    available: Tuple[PeerInfo, ...] = attrs.field(factory=tuple, converter=_to_peer_infos)
    unavailable: Tuple[PeerInfo, ...] = attrs.field(factory=tuple, converter=_to_peer_infos)


@attrs.frozen(kw_only=True)
class HealthResponse(_Model):
    """``GET /health`` of a peer (with ``peer_id``) or a router (with ``available_peers``)."""

    status: str = attrs.field(default="ok", converter=to_str)
    peer_id: str = attrs.field(default="", converter=to_str)
    available_peers: int = attrs.field(default=0, converter=to_int)
