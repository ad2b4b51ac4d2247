"""``mictlanx-sync``: the command line (``put``, ``get``, ``ls``, ``stat``, ``rm``, ``tag``,
``peers``, ``vss``, ``bench``). ``main(argv) -> int``; every error class has its own exit code and
one line on stderr (a traceback only with ``--verbose``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from typing import Any, Callable, Dict, Optional, Sequence, TextIO, Tuple, Type

from . import errors
from .__version__ import __version__
from .units import format_size

__all__ = ["main", "EXIT_CODES"]

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
    (errors.MictlanXError, 1),
)
EXIT_INTERRUPTED = 130


def exit_code_for(exc: BaseException) -> int:
    """The exit code of an error (1 for anything unexpected)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def _parse_tags(pairs: Optional[Sequence[str]]) -> Dict[str, str]:
    tags: Dict[str, str] = {}
    for pair in pairs or ():
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise errors.InvalidArgumentError(f"tag {pair!r} must look like name=value")
        tags[name] = value
    return tags


def _client(args: argparse.Namespace) -> Any:
    from .client import Client

    return Client(uri=args.uri, max_workers=args.workers, chunk_size=args.chunk_size,
                  debug=args.verbose, capacity_storage=0)


def _progress(args: argparse.Namespace) -> bool:
    if args.progress is None:
        return sys.stderr.isatty()
    return bool(args.progress)


def _emit(args: argparse.Namespace, out: TextIO, data: Any, text: str) -> None:
    out.write((json.dumps(data, sort_keys=True) if args.json else text) + "\n")


def _cmd_put(args: argparse.Namespace) -> int:
    out = sys.stdout
    tags = {**_parse_tags(args.tag), **_parse_tags(args.tags)}
    with _client(args) as client:
        if args.path == "-":
            result = client.put(args.bucket, args.key, sys.stdin.buffer, tags=tags, rf=args.rf,
                                progress=_progress(args))
        else:
            result = client.put_file(args.bucket, args.key, args.path, tags=tags, rf=args.rf,
                                     progress=_progress(args))
    _emit(args, out, {"bucket_id": result.bucket_id, "key": result.key, "size": result.size,
                      "checksum": result.checksum, "num_chunks": result.num_chunks,
                      "replicas": list(result.replicas), "seconds": round(result.seconds, 4)},
          f"put {result.bucket_id}/{result.key}: {format_size(result.size)} in {result.num_chunks} chunk(s), "
          f"sha256 {result.checksum}")
    return 0


def _cmd_get(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _client(args) as client:
        if args.output == "-":
            sink = sys.stdout.buffer
            for piece in client.get_stream(args.bucket, args.key):
                sink.write(piece)
            sink.flush()
            return 0
        path = client.get_to_file(args.bucket, args.key, args.output or os.getcwd(),
                                  progress=_progress(args))
    _emit(args, out, {"bucket_id": args.bucket, "key": args.key, "path": path},
          f"get {args.bucket}/{args.key} -> {path}")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _client(args) as client:
        objects = client.get_bucket_metadata(args.bucket)
    if args.json:
        out.write(json.dumps([{"key": o.key, "size": o.size, "num_chunks": o.num_chunks,
                               "updated_at": o.updated_at, "checksum": o.checksum, "tags": o.tags}
                              for o in objects], sort_keys=True) + "\n")
        return 0
    for o in objects:
        out.write(f"{o.key}\t{o.size}\t{o.num_chunks}\t{o.updated_at}\n")
    return 0


def _cmd_stat(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _client(args) as client:
        info = client.get_metadata(args.bucket, args.key)
    data = {"bucket_id": info.bucket_id, "key": info.key, "size": info.size, "checksum": info.checksum,
            "num_chunks": info.num_chunks, "content_type": info.content_type,
            "updated_at": info.updated_at, "is_disabled": info.is_disabled, "tags": info.tags}
    text = "\n".join(f"{k}: {v}" for k, v in data.items() if k != "tags")
    text += "".join(f"\ntag {k}={v}" for k, v in sorted(info.tags.items()))
    _emit(args, out, data, text)
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _client(args) as client:
        if args.ball_id:
            count = client.delete_by_ball_id(args.bucket, args.key)
        else:
            count = client.delete(args.bucket, args.key)
    if count == 0:
        raise errors.NotFoundError(f"nothing to delete: {args.bucket}/{args.key} not found",
                                   bucket_id=args.bucket, key=args.key)
    _emit(args, out, {"bucket_id": args.bucket, "key": args.key, "n_deletes": count},
          f"deleted {args.bucket}/{args.key} ({count} replica(s))")
    return 0


def _cmd_tag(args: argparse.Namespace) -> int:
    out = sys.stdout
    tags = _parse_tags(args.pairs)
    with _client(args) as client:
        info = client.update_tags(args.bucket, args.key, tags)
    _emit(args, out, {"bucket_id": info.bucket_id, "key": info.key, "tags": info.tags},
          " ".join(f"{k}={v}" for k, v in sorted(info.tags.items())))
    return 0


def _cmd_peers(args: argparse.Namespace) -> int:
    out = sys.stdout
    with _client(args) as client:
        stats = {}
        for router in client.routers:
            stats.update(router.get_stats())
    if args.json:
        out.write(json.dumps({pid: {k: v for k, v in s.to_json().items() if k != "balls"}
                              for pid, s in stats.items()}, sort_keys=True) + "\n")
        return 0
    for pid, s in sorted(stats.items()):
        out.write(f"{pid}\tused={format_size(s.used_disk)}\ttotal={format_size(s.total_disk)}\t"
                  f"uf={s.disk_uf:.4f}\n")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    out = sys.stdout
    from .bench import format_table, parse_list, run_bench

    rows = run_bench(args.uri, sizes=parse_list(args.sizes), workers=[int(w) for w in args.bench_workers.split(",")],
                     count=args.count, chunk_size=args.chunk_size)
    if args.json:
        out.write(json.dumps([row.to_json() for row in rows]) + "\n")
    else:
        out.write(format_table(rows) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and documentation)."""
    parser = argparse.ArgumentParser(prog="mictlanx-sync", description="Move files in and out of MictlanX.")
    parser.add_argument("--uri", default=None, help="mictlanx:// URI (default: $MICTLANX_URI, then the local VSS)")
    parser.add_argument("--chunk-size", default="1MB", help="bytes per chunk, e.g. 1MB, 8MiB (default 1MB)")
    parser.add_argument("--workers", type=int, default=8, help="parallel transfer threads (default 8)")
    parser.add_argument("--rf", type=int, default=1, help="replication factor for put (default 1)")
    parser.add_argument("--tag", action="append", default=[], metavar="K=V", help="a tag for put (repeatable)")
    parser.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="draw a progress bar (default: when stderr is a terminal)")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--verbose", action="store_true", help="log requests; tracebacks on errors")
    parser.add_argument("--version", action="version", version=f"mictlanx-sync {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("put", help="store a file (or stdin with '-')")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("path", help="a file, or - for stdin")
    p.add_argument("tags", nargs="*", default=[], metavar="K=V", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_put)

    p = sub.add_parser("get", help="fetch an object to a file, a directory or stdout ('-o -')")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("-o", "--output", default=None, help="file or directory (default: current directory); - for stdout")
    p.set_defaults(func=_cmd_get)

    p = sub.add_parser("ls", help="list the objects of a bucket")
    p.add_argument("bucket")
    p.set_defaults(func=_cmd_ls)

    p = sub.add_parser("stat", help="show an object's metadata and tags")
    p.add_argument("bucket")
    p.add_argument("key")
    p.set_defaults(func=_cmd_stat)

    p = sub.add_parser("rm", help="delete an object (or every ball of a ball id with --ball-id)")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("--ball-id", action="store_true", help="KEY is a ball id: delete every ball in it")
    p.set_defaults(func=_cmd_rm)

    p = sub.add_parser("tag", help="set tags on an object")
    p.add_argument("bucket")
    p.add_argument("key")
    p.add_argument("pairs", nargs="+", metavar="K=V")
    p.set_defaults(func=_cmd_tag)

    p = sub.add_parser("peers", help="show the routers' peer stats")
    p.set_defaults(func=_cmd_peers)

    p = sub.add_parser("bench", help="measure put/get MB/s and ops/s against a URI")
    p.add_argument("--sizes", default="4KiB,8MiB", help="object sizes, comma-separated (default 4KiB,8MiB)")
    p.add_argument("--bench-workers", default="8", help="worker counts, comma-separated (default 8)")
    p.add_argument("--count", type=int, default=0, help="objects per size (default: enough for ~64 MiB, max 1000)")
    p.set_defaults(func=_cmd_bench)

    try:
        from .vss.cli import register
    except ImportError:  # the server extra is not installed
        pass
    else:
        register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    func: Callable[..., int] = args.func
    try:
        try:
            return func(args)
        except BrokenPipeError:
            return 0
    except KeyboardInterrupt:
        sys.stderr.write("mictlanx-sync: interrupted\n")
        return EXIT_INTERRUPTED
    except errors.MictlanXError as exc:
        if getattr(args, "verbose", False):
            traceback.print_exc()
        sys.stderr.write(f"mictlanx-sync: error: {exc}\n")
        return exit_code_for(exc)
    except OSError as exc:
        if getattr(args, "verbose", False):
            traceback.print_exc()
        sys.stderr.write(f"mictlanx-sync: error: {exc}\n")
        return 1
