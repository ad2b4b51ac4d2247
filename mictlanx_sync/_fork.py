"""Fork safety: objects that own threads, pooled sockets or locks rebuild them in a forked child.

A process that forks (``gunicorn --preload``, ``multiprocessing`` with the fork start method, a
plain ``os.fork()``) copies a Client half-alive into the child: the pool's threads are gone but
its bookkeeping says they are idle, the pooled sockets are shared with the parent, and any lock
another thread held at the moment of the fork stays held forever. Every such object registers
here with the function that rebuilds it; one ``os.register_at_fork(after_in_child=...)`` hook per
process runs them all in the child, before the child's code goes on. The parent is untouched.

Objects are held weakly: registering never keeps a client alive.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any, Callable, TypeVar

__all__ = ["register", "reinit_lock", "forks_seen"]

T = TypeVar("T")

_hooks: weakref.WeakKeyDictionary[Any, Callable[[Any], None]] = weakref.WeakKeyDictionary()
_forks = 0


def register(obj: T, rebuild: Callable[[T], None]) -> T:
    """Call ``rebuild(obj)`` in every child forked while ``obj`` is alive; returns ``obj``.

    ``rebuild`` runs on the forking thread of the child, with only that thread alive: it must not
    wait for anything and must not take a lock it did not create itself.
    """
    _hooks[obj] = rebuild
    return obj


def reinit_lock() -> threading.Lock:
    """A fresh lock (the spelling every rebuild function uses for the locks it replaces)."""
    return threading.Lock()


def forks_seen() -> int:
    """How many forks this process's lineage went through since this module was imported (the
    count is inherited by children); a test seam and a cheap "did we fork?" check."""
    return _forks


def _after_in_child() -> None:
    global _forks
    _forks += 1
    for obj, rebuild in list(_hooks.items()):
        try:
            rebuild(obj)
        except Exception:  # noqa: BLE001 - a fork hook must never raise into the child
            pass


if hasattr(os, "register_at_fork"):  # POSIX; a platform without fork has nothing to repair
    os.register_at_fork(after_in_child=_after_in_child)
