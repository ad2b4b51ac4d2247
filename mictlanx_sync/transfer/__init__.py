"""The transfer engine: chunk planning, a bounded parallel runner and progress reporting."""

from __future__ import annotations

from .chunking import ChunkSpan, ObjectLayout, layout_from_metadata, plan_chunks
from .manager import TransferManager
from .progress import Progress

__all__ = ["ChunkSpan", "ObjectLayout", "layout_from_metadata", "plan_chunks", "TransferManager", "Progress"]
