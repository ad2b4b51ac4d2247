"""``mictlanx-sync``: the command line (``put``, ``get``, ``ls``, ``stat``, ``rm``, ``tag``,
``peers``, ``keys``, ``vss``, ``bench``).

``main(argv) -> int``; every error class has its own exit code (:data:`EXIT_CODES`) and one line
on stderr (a traceback only with ``--verbose``). Global options (``--uri``, ``--json``...) may be
given before or after the subcommand. Data goes to stdout only for ``get -o -``; progress bars,
logs and errors go to stderr.

Example:
    >>> main(["--version"])                                     # doctest: +SKIP
    mictlanx-sync 0.1.0
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import os
import sys
import traceback
from typing import Any, Callable, Dict, List, Optional, Sequence, TextIO, Tuple, Type

from . import errors
from .__version__ import __version__
from .units import format_size, parse_size

__all__ = ["main", "build_parser", "exit_code_for", "EXIT_CODES", "EXIT_INTERRUPTED"]

PROG = "mictlanx-sync"

# Most specific first: the first class an error is an instance of decides its exit code.
EXIT_CODES: Tuple[Tuple[Type[BaseException], int], ...] = (
    (errors.InvalidURIError, 3),
    (errors.InvalidArgumentError, 2),
    (errors.NotFoundError, 4),
    (errors.MaxAvailabilityReachedError, 6),
    (errors.AlreadyExistsError, 5),
    (errors.ConnectFailedError, 8),
    (errors.RequestTimeoutError, 9),
    (errors.NetworkError, 7),
    (errors.ForbiddenError, 11),
    (errors.BadRequestError, 12),
    (errors.ServerError, 10),
    (errors.IntegrityError, 13),
    (errors.TransferError, 14),
    (errors.LocalFileExistsError, 16),
    (errors.LocalIOError, 15),
    (errors.MictlanXError, 1),
)
EXIT_INTERRUPTED = 130

# The word that starts the error line, per class (same order as EXIT_CODES).
_LABELS: Tuple[Tuple[Type[BaseException], str], ...] = (
    (errors.InvalidURIError, "invalid URI"),
    (errors.InvalidArgumentError, "invalid argument"),
    (errors.NotFoundError, "not found"),
    (errors.MaxAvailabilityReachedError, "max availability reached"),
    (errors.AlreadyExistsError, "already exists"),
    (errors.ConnectFailedError, "connect failed"),
    (errors.RequestTimeoutError, "timeout"),
    (errors.NetworkError, "network error"),
    (errors.ForbiddenError, "forbidden"),
    (errors.BadRequestError, "bad request"),
    (errors.ServerError, "server error"),
    (errors.IntegrityError, "integrity error"),
    (errors.TransferError, "transfer failed"),
    (errors.LocalFileExistsError, "file exists"),
    (errors.LocalIOError, "local I/O error"),
    (errors.MictlanXError, "error"),
)

# Defaults of the global options, applied once after parsing (the parsers themselves use
# argparse.SUPPRESS so that an option given after the subcommand does not get reset).
_GLOBAL_DEFAULTS: Dict[str, Any] = {
    "uri": None,
    "chunk_size": "1MB",
    "workers": 8,
    "rf": 1,
    "tag": [],
    "progress": None,
    "json": False,
    "verbose": False,
    "timeout": None,
    "deadline": None,
}
_TAG_AFTER = "tag_after_command"  # dest of --tag given after the subcommand (merged into ``tag``)


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error (1 for anything unexpected)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def _label_for(exc: BaseException) -> str:
    for cls, label in _LABELS:
        if isinstance(exc, cls):
            return label
    return "error"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error_line(exc: errors.MictlanXError, args: argparse.Namespace) -> str:
    """``mictlanx-sync: <label>: <bucket>/<key>: <what happened>`` on one line."""
    bucket, key = exc.bucket_id, exc.key
    if isinstance(exc, errors.NotFoundError) and bucket is None and key is None:
        bucket, key = getattr(args, "bucket", None), getattr(args, "key", None)
    where = ""
    if bucket is not None or key is not None:
        where = f"{bucket or ''}/{key or ''}: " if key is not None else f"{bucket}: "
    message = exc.message
    if exc.status is not None:
        message += f" (HTTP {exc.status})"
    if isinstance(exc, errors.TransferError):
        if exc.failed_indices:
            message += f"; failed chunks {list(exc.failed_indices)}"
        if exc.cause is not None:
            message += f"; first cause: {type(exc.cause).__name__}: {exc.cause}"
    return _one_line(f"{PROG}: {_label_for(exc)}: {where}{message}")


# ------------------------------------------------------------------------------ argument types
def _size_arg(text: str) -> int:
    try:
        size = parse_size(text)
    except (errors.MictlanXError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: {exc}") from None
    if size <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return size


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum``."""
    what = {0: "a non-negative integer", 1: "a positive integer"}.get(minimum, f"an integer >= {minimum}")

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _seconds_arg(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _tag_arg(text: str) -> str:
    name, sep, _value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"tag {text!r} must look like name=value")
    return text


def _size_list_arg(text: str) -> List[int]:
    sizes = [_size_arg(part.strip()) for part in text.split(",") if part.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError("expected one or more sizes, e.g. 4KiB,8MiB")
    return sizes


def _delay_list_arg(text: str) -> List[float]:
    from .bench import parse_delays

    try:
        return parse_delays(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _int_list_arg(text: str) -> List[int]:
    values = [_positive_int(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise argparse.ArgumentTypeError("expected one or more positive integers, e.g. 1,8")
    return values


def _parse_tags(pairs: Optional[Sequence[str]]) -> Dict[str, str]:
    tags: Dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise errors.InvalidArgumentError(f"tag {pair!r} must look like name=value")
        tags[name] = value
    return tags


# ------------------------------------------------------------------------------------- helpers
def _encryption_key(args: argparse.Namespace) -> Optional[bytes]:
    """The key of ``--key-pair ME [--peer-key THEM]``: X25519 + HKDF of my private key and their
    public key (mine when no ``--peer-key``: encrypted for myself); None without ``--key-pair``."""
    me, them = getattr(args, "key_pair", None), getattr(args, "peer_key", None)
    if me is None:
        if them is not None:
            raise errors.InvalidArgumentError("--peer-key needs --key-pair (your own keypair's name)")
        return None
    from . import keys

    return keys.shared_key(keys.load_private_key(me), keys.load_public_key(them or me))


def _client(args: argparse.Namespace) -> Any:
    from .client import Client

    return Client(uri=args.uri, max_workers=args.workers, chunk_size=args.chunk_size,
                  debug=args.verbose, capacity_storage=0, encryption_key=_encryption_key(args),
                  timeout=args.timeout, deadline=args.deadline)


def _progress(args: argparse.Namespace) -> bool:
    if args.progress is None:
        return sys.stderr.isatty()
    return bool(args.progress)


def _emit(args: argparse.Namespace, out: TextIO, data: Any, text: str) -> None:
    out.write((json.dumps(data, sort_keys=True) if args.json else text) + "\n")
    out.flush()


def _format_time(stamp: int) -> str:
    """An ``updated_at`` tag (seconds, ms, us or ns since the epoch) as UTC ISO 8601."""
    if stamp <= 0:
        return "-"
    seconds = float(stamp)
    while seconds > 1e11:  # ms, us or ns
        seconds /= 1000.0
    try:
        moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return str(stamp)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _info_json(info: Any) -> Dict[str, Any]:
    return {"bucket_id": info.bucket_id, "name": info.name, "key": info.key, "size": info.size,
            "checksum": info.checksum,
            "num_chunks": info.num_chunks, "content_type": info.content_type,
            "updated_at": info.updated_at, "is_disabled": info.is_disabled, "tags": dict(info.tags)}


# ------------------------------------------------------------------------------------ commands
def _tree_prefix(key: str) -> str:
    """The name prefix of a ``-r`` tree: ``"2024"`` -> ``"2024/"``; ``"/"`` or ``"."`` -> ``""``."""
    stripped = key.strip("/")
    return "" if stripped in ("", ".") else stripped + "/"


def _put_tree(args: argparse.Namespace, tags: Dict[str, str]) -> int:
    """``put -r BUCKET PREFIX DIR``: every file below DIR stored as PREFIX/relative/path."""
    if not os.path.isdir(args.path):
        raise errors.InvalidArgumentError(f"put -r needs a directory, got {args.path!r}")
    prefix = _tree_prefix(args.key)
    files = sorted(os.path.join(root, f) for root, _, names in os.walk(args.path) for f in names)
    stored = 0
    with _client(args) as client:
        for path in files:
            name = prefix + os.path.relpath(path, args.path).replace(os.sep, "/")
            result = client.put_file(args.bucket, name, path, tags=tags, rf=args.rf, overwrite=args.force)
            stored += 1
            _emit(args, sys.stdout, {"bucket_id": result.bucket_id, "name": result.name, "key": result.key,
                                     "size": result.size, "checksum": result.checksum},
                  f"put {result.bucket_id}/{result.name}: {format_size(result.size)}")
    if not args.json:
        sys.stdout.write(f"{stored} file(s) stored\n")
    return 0


def _safe_relative(name: str) -> str:
    """``name`` as a relative local path, refusing names that would leave the target directory."""
    parts = name.split("/")
    if not name or name.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in name:
        raise errors.InvalidArgumentError(f"object name {name!r} is not a safe relative path; "
                                          f"fetch it on its own with get -o FILE")
    return os.path.join(*parts)


def _get_tree(args: argparse.Namespace) -> int:
    """``get -r BUCKET PREFIX -o DIR``: every object named PREFIX/... written to DIR/..."""
    prefix = _tree_prefix(args.key)
    target = args.output or os.getcwd()
    if target == "-":
        raise errors.InvalidArgumentError("get -r writes files: give a directory with -o DIR")
    with _client(args) as client:
        objects = client.list_objects(args.bucket, prefix).objects
        plan = [(o.name, os.path.join(target, _safe_relative(o.name[len(prefix):]))) for o in objects]
        for name, path in plan:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            client.get_to_file(args.bucket, name, path, overwrite=args.force)
            _emit(args, sys.stdout, {"bucket_id": args.bucket, "name": name, "path": path},
                  f"get {args.bucket}/{name} -> {path}")
    if not args.json:
        sys.stdout.write(f"{len(plan)} file(s) fetched\n")
    return 0


def _cmd_put(args: argparse.Namespace) -> int:
    tags = {**_parse_tags(args.tag), **_parse_tags(args.tags)}
    if args.recursive:
        return _put_tree(args, tags)
    options: Dict[str, Any] = {"tags": tags, "rf": args.rf, "progress": _progress(args),
                               "overwrite": args.force, "min_replicas": args.min_replicas}
    with _client(args) as client:
        if args.path == "-":
            result = client.put(args.bucket, args.key, sys.stdin.buffer, **options)
        else:
            result = client.put_file(args.bucket, args.key, args.path, **options)
    short = [i for i, count in enumerate(result.chunk_replicas) if count < args.rf]
    if short:
        print(f"warning: {result.bucket_id}/{result.key}: {len(short)} chunk(s) got fewer than {args.rf} "
              f"replicas (fewest: {result.min_chunk_replicas}); use --min-replicas to make this an error",
              file=sys.stderr)
    if result.already_stored:
        print(f"note: {result.bucket_id}/{result.key} was already stored with the same content; nothing written"
              + ("; tags updated" if result.tags_updated else ""), file=sys.stderr)
    _emit(args, sys.stdout,
          {"bucket_id": result.bucket_id, "name": result.name, "key": result.key, "size": result.size,
           "checksum": result.checksum, "num_chunks": result.num_chunks,
           "replicas": list(result.replicas), "chunk_replicas": list(result.chunk_replicas),
           "already_stored": result.already_stored, "seconds": round(result.seconds, 4)},
          f"put {result.bucket_id}/{result.name}: {format_size(result.size)} in {result.num_chunks} chunk(s), "
          f"sha256 {result.checksum}" + (f", key {result.key}" if result.key != result.name else ""))
    return 0


def _cmd_get(args: argparse.Namespace) -> int:
    if args.recursive:
        return _get_tree(args)
    with _client(args) as client:
        if args.output == "-":
            sink = sys.stdout.buffer
            for piece in client.get_stream(args.bucket, args.key):
                sink.write(piece)
            sink.flush()
            return 0
        # Without -o the file goes into the current directory under a bare name (never outside it).
        path = client.get_to_file(args.bucket, args.key, args.output or os.getcwd(),
                                  progress=_progress(args), overwrite=args.force)
    size = os.path.getsize(path)
    unchanged = bool(getattr(path, "unchanged", False))
    note = ": already up to date (same SHA-256), nothing fetched" if unchanged else ""
    _emit(args, sys.stdout, {"bucket_id": args.bucket, "key": args.key, "name": args.key, "path": str(path),
                             "size": size, "unchanged": unchanged},
          f"get {args.bucket}/{args.key} -> {path} ({format_size(size)}){note}")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    out = sys.stdout
    bucket, _, prefix = args.bucket.partition("/")
    with _client(args) as client:
        page = client.list_objects(bucket, prefix, delimiter=None if args.recursive else "/",
                                   tags=_parse_tags(args.tag))
    warning = page.warning
    if warning:  # a listing made without some peers may be short: say so, on stderr
        sys.stderr.write(_one_line(f"{PROG}: warning: {warning}; the listing may be incomplete") + "\n")
    if args.json:
        out.write(json.dumps([{"prefix": p} for p in page.prefixes] +
                             [{"name": o.name, "key": o.key, "size": o.size, "num_chunks": o.num_chunks,
                               "updated_at": o.updated_at, "checksum": o.checksum, "tags": dict(o.tags)}
                              for o in page.objects], sort_keys=True) + "\n")
    else:
        for p in page.prefixes:
            out.write(f"{p}\t-\t-\t-\n")
        for o in page.objects:
            out.write(f"{o.name}\t{o.size}\t{o.num_chunks}\t{_format_time(o.updated_at)}\n")
    out.flush()
    return 0


def _cmd_stat(args: argparse.Namespace) -> int:
    with _client(args) as client:
        info = client.get_metadata(args.bucket, args.key)
    data = _info_json(info)
    lines = [f"{k}: {v}" for k, v in data.items() if k not in ("tags", "updated_at")]
    lines.append(f"updated_at: {info.updated_at} ({_format_time(info.updated_at)})")
    lines += [f"tag {k}={v}" for k, v in sorted(info.tags.items())]
    _emit(args, sys.stdout, data, "\n".join(lines))
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    with _client(args) as client:
        if args.ball_id:
            count = client.delete_by_ball_id(args.bucket, args.key)
        else:
            count = client.delete(args.bucket, args.key)
    if count == 0:
        what = "ball id" if args.ball_id else "object"
        raise errors.NotFoundError(f"nothing to delete: no {what} {args.bucket}/{args.key}",
                                   bucket_id=args.bucket, key=args.key)
    _emit(args, sys.stdout, {"bucket_id": args.bucket, "key": args.key, "n_deletes": count},
          f"deleted {args.bucket}/{args.key} ({count} replica(s))")
    return 0


def _cmd_tag(args: argparse.Namespace) -> int:
    tags = {**_parse_tags(args.tag), **_parse_tags(args.pairs)}
    if not tags:
        raise errors.InvalidArgumentError("no tags given: use name=value", bucket_id=args.bucket, key=args.key)
    with _client(args) as client:
        info = client.update_tags(args.bucket, args.key, tags)
    _emit(args, sys.stdout, {"bucket_id": info.bucket_id, "key": info.key, "tags": dict(info.tags)},
          f"{info.bucket_id}/{info.key}: " + " ".join(f"{k}={v}" for k, v in sorted(info.tags.items())))
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from . import keys

    if args.action == "gen":
        pair = keys.generate_keypair(args.name, overwrite=args.force)
    else:
        pair = keys.load_keypair(args.name)
    folder = keys.key_dir()
    data = {"name": pair.name, "public_key": pair.public_bytes().hex(), "dir": folder,
            "private_key_file": os.path.join(folder, f"{pair.name}.key"),
            "public_key_file": os.path.join(folder, f"{pair.name}.pub")}
    verb = "generated" if args.action == "gen" else "keypair"
    _emit(args, sys.stdout, data, f"{verb} {pair.name}: public key {data['public_key']}\n"
                                  f"private {data['private_key_file']} (mode 0600), public {data['public_key_file']}")
    return 0


def _cmd_peers(args: argparse.Namespace) -> int:
    out = sys.stdout
    stats: Dict[str, Any] = {}
    unavailable: Dict[str, Any] = {}
    with _client(args) as client:
        for router in client.routers:
            stats.update(router.get_stats())
            try:
                listed = router.get_peers()
            except errors.NetworkError:
                raise
            except errors.MictlanXError:
                continue  # a router without GET /peers: its stats are all there is
            unavailable.update({p.peer_id: p for p in listed.unavailable})
    down = {pid: p for pid, p in unavailable.items() if pid not in stats}
    if args.json:
        data = {pid: {**{k: v for k, v in s.to_json().items() if k != "balls"}, "available": True}
                for pid, s in stats.items()}
        data.update({pid: {"peer_id": pid, "available": False, "address": f"{p.ip_addr}:{p.port}"}
                     for pid, p in down.items()})
        out.write(json.dumps(data, sort_keys=True) + "\n")
    else:
        for pid, s in sorted(stats.items()):
            out.write(f"{pid}\tused={format_size(s.used_disk)}\ttotal={format_size(s.total_disk)}\t"
                      f"uf={s.disk_uf:.4f}\n")
        for pid, p in sorted(down.items()):
            out.write(f"{pid}\tUNAVAILABLE\t{p.ip_addr}:{p.port}\n")
    out.flush()
    if down:
        sys.stderr.write(_one_line(f"{PROG}: warning: {len(down)} peer(s) unavailable: {', '.join(sorted(down))}")
                         + "\n")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import format_table, median_rows, run_matrix
    from .client import URI_ENV
    from .uri import DEFAULT_URI, MictlanXURI

    chunk_size = parse_size(args.chunk_size)
    workers = args.bench_workers or [args.workers]
    uri = args.uri or os.environ.get(URI_ENV) or DEFAULT_URI
    MictlanXURI.parse(uri)  # InvalidURIError before any work
    rows = run_matrix(uri, sizes=args.sizes, workers=workers, count=args.count, chunk_size=chunk_size,
                      references=args.references, repeat=args.repeat, delays=args.latency or [None],
                      bandwidth=args.bandwidth or None)
    if args.json:
        sys.stdout.write(json.dumps([row.to_json() for row in median_rows(rows)], sort_keys=True) + "\n")
    else:
        sys.stdout.write(format_table(rows) + "\n")
    sys.stdout.flush()
    return 0


# -------------------------------------------------------------------------------------- parser
def _add_global_options(parser: argparse.ArgumentParser, *, tag_dest: str = "tag") -> None:
    """The global options, all with ``default=SUPPRESS`` (real defaults: ``_GLOBAL_DEFAULTS``)."""
    group = parser.add_argument_group("global options (before or after the command)")
    group.add_argument("--uri", default=argparse.SUPPRESS,
                       help="mictlanx:// URI of the routers (default: $MICTLANX_URI, then the local VSS)")
    group.add_argument("--chunk-size", type=_size_arg, default=argparse.SUPPRESS, metavar="SIZE",
                       help="bytes per chunk, e.g. 1MB, 256kb, 8MiB (default 1MB)")
    group.add_argument("--workers", type=_positive_int, default=argparse.SUPPRESS, metavar="N",
                       help="parallel transfer threads (default 8)")
    group.add_argument("--timeout", type=_seconds_arg, default=argparse.SUPPRESS, metavar="SECONDS",
                       help="connect/read timeout; a metadata call (ls, stat...) fails after 3x that "
                            "(default: connect 5 s, read 30 s, metadata call 60 s)")
    group.add_argument("--deadline", type=_seconds_arg, default=argparse.SUPPRESS, metavar="SECONDS",
                       help="overall bound on the whole command's operation (default: none)")
    group.add_argument("--rf", type=_positive_int, default=argparse.SUPPRESS, metavar="N",
                       help="replication factor for put (default 1)")
    group.add_argument("--tag", dest=tag_dest, type=_tag_arg, action="append", default=argparse.SUPPRESS,
                       metavar="K=V", help="a tag for put/tag, a filter for ls (repeatable)")
    group.add_argument("--progress", dest="progress", action="store_true", default=argparse.SUPPRESS,
                       help="draw a progress bar on stderr (default: when stderr is a terminal)")
    group.add_argument("--no-progress", dest="progress", action="store_false", default=argparse.SUPPRESS,
                       help="never draw a progress bar")
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="print results as JSON (one document on stdout)")
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="log requests to stderr; print tracebacks on errors")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation).

    Global options have ``default=SUPPRESS`` everywhere; :func:`parse_args` fills in their
    defaults once, so an option given after the subcommand is never overwritten.
    """
    parser = argparse.ArgumentParser(
        prog=PROG, description="Move files in and out of MictlanX.",
        epilog="exit codes: 0 ok, 1 other, 2 invalid argument, 3 invalid URI, 4 not found, "
               "5 already exists, 6 max availability, 7 network, 8 connect failed, 9 timeout, "
               "10 server error, 11 forbidden, 12 bad request, 13 integrity, 14 transfer, 15 local I/O error, "
               "16 local file exists, 130 interrupted")
    _add_global_options(parser)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common, tag_dest=_TAG_AFTER)

    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def command(name: str, help_text: str, func: Callable[[argparse.Namespace], int]) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=[common], help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def key_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--key-pair", metavar="ME", default=None,
                       help="end-to-end encryption: your keypair's name (see `keys gen`)")
        p.add_argument("--peer-key", metavar="THEM", default=None,
                       help="the other party's public key name (default: your own)")

    p = command("put", "store a file (or stdin with '-'), or with -r a directory tree", _cmd_put)
    p.add_argument("bucket")
    p.add_argument("key", help="the object's name (any name: 2024/cat.jpg); with -r the names' prefix "
                               "('/' for none)")
    p.add_argument("path", help="a file, or - for stdin; with -r a directory")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="store every file below PATH, named KEY/relative/path")
    p.add_argument("tags", nargs="*", default=[], metavar="K=V", help="tags (same as --tag)")
    key_options(p)
    p.add_argument("--force", action="store_true",
                   help="replace an object stored under the key with other content (the key reads as "
                        "absent from the delete until the new object is complete)")
    p.add_argument("--min-replicas", type=_positive_int, default=None, metavar="N",
                   help="fail (and remove what was stored) when a chunk gets fewer than N replicas")

    p = command("get", "fetch an object to a file, a directory or stdout ('-o -'), or with -r a tree",
                _cmd_get)
    p.add_argument("bucket")
    p.add_argument("key", help="the object's name; with -r the names' prefix ('/' for all)")
    p.add_argument("-r", "--recursive", action="store_true",
                   help="fetch every object named KEY/... into -o DIR, keeping the relative paths")
    p.add_argument("-o", "--output", default=None, metavar="PATH",
                   help="file or directory (default: current directory); - for stdout; a directory "
                        "given with a trailing / is created")
    p.add_argument("-f", "--force", action="store_true",
                   help="replace an existing file with different content (default: refuse, exit 16)")
    key_options(p)

    p = command("ls", "list a bucket's objects (name, size, chunks, updated) and the 'directories' "
                      "one level below BUCKET/PREFIX; --tag K=V filters", _cmd_ls)
    p.add_argument("bucket", metavar="BUCKET[/PREFIX]")
    p.add_argument("-r", "--recursive", action="store_true", help="every object below the prefix")

    p = command("keys", "X25519 keypairs for end-to-end encryption, in $XOLO_SECRET_PATH or a per-user dir",
                _cmd_keys)
    p.add_argument("action", choices=("gen", "show"), help="gen: make a keypair; show: print its public key")
    p.add_argument("name")
    p.add_argument("--force", action="store_true", help="gen: replace an existing keypair of that name")

    p = command("stat", "show an object's metadata and tags", _cmd_stat)
    p.add_argument("bucket")
    p.add_argument("key")

    p = command("rm", "delete an object (or every ball of a ball id with --ball-id)", _cmd_rm)
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--ball-id", action="store_true", help="KEY is a ball id: delete every ball in it")

    p = command("tag", "set tags on an object (merged into its tags)", _cmd_tag)
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("pairs", nargs="*", metavar="K=V")

    command("peers", "show the routers' peer stats", _cmd_peers)

    p = command("bench", "measure put/get MB/s and ops/s against a URI", _cmd_bench)
    p.add_argument("--sizes", type=_size_list_arg, default=_size_list_arg("4KiB,8MiB"), metavar="SIZES",
                   help="object sizes, comma-separated (default 4KiB,8MiB)")
    p.add_argument("--bench-workers", type=_int_list_arg, default=None, metavar="N,...",
                   help="worker counts, comma-separated (default: --workers)")
    p.add_argument("--count", type=_non_negative_int, default=0,
                   help="objects per size (default: enough for ~64 MiB, max 1000)")
    p.add_argument("--references", action="store_true",
                   help="also run the floor (bare requests) and ceiling (bare urllib3) references")
    p.add_argument("--repeat", type=_positive_int, default=1,
                   help="rounds per size; the table shows the median of each row (default 1)")
    p.add_argument("--latency", type=_delay_list_arg, default=None, metavar="DELAY,...",
                   help="run everything through a TCP proxy adding this one-way delay each direction "
                        "(e.g. 2ms, or 0,2ms,20ms for one table each and the round trips per op)")
    p.add_argument("--bandwidth", type=_size_arg, default=None, metavar="BYTES",
                   help="with a proxy: cap each direction of each connection to BYTES per second (e.g. 125MB)")

    try:
        from .vss.cli import register
    except ImportError:  # the server extra is not installed
        pass
    else:
        register(sub)
    return parser


def parse_args(argv: Optional[Sequence[str]] = None,
               parser: Optional[argparse.ArgumentParser] = None) -> argparse.Namespace:
    """Parse the command line and apply the global defaults once (exits 2 on a usage error)."""
    parser = parser or build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    for name, default in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, list(default) if isinstance(default, list) else default)
    args.tag = list(args.tag) + list(getattr(args, _TAG_AFTER, []))
    if hasattr(args, _TAG_AFTER):
        delattr(args, _TAG_AFTER)
    return args


def _quiet_library_logs() -> None:
    """Keep the library's warnings off stderr (logging's last-resort handler) unless verbose."""
    logger = logging.getLogger("mictlanx_sync")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    except OSError:
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        0 on success, otherwise the code of the error's class (see :data:`EXIT_CODES`), 2 for a
        usage error, 130 when interrupted.
    """
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    verbose = bool(args.verbose)
    if not verbose:
        _quiet_library_logs()
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return int(func(args))
    except KeyboardInterrupt as exc:
        if verbose:
            traceback.print_exc()
        detail = f": {_one_line(str(exc))}" if str(exc) else ""  # e.g. an abandoned put cleanup
        sys.stderr.write(f"{PROG}: interrupted{detail}\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except errors.MictlanXError as exc:
        if verbose:
            traceback.print_exc()
        sys.stderr.write(_error_line(exc, args) + "\n")
        return exit_code_for(exc)
    except OSError as exc:
        if verbose:
            traceback.print_exc()
        sys.stderr.write(_one_line(f"{PROG}: error: {exc}") + "\n")
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, no traceback
        if verbose:
            traceback.print_exc()
        sys.stderr.write(_one_line(f"{PROG}: error: {type(exc).__name__}: {exc}") + "\n")
        return 1
