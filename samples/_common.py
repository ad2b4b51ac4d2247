"""Shared argument handling for the samples (where to find the peer, router or URI)."""

from __future__ import annotations

import argparse
import os
from typing import Dict, List


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the connection options every sample accepts."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--peer_url", default=os.environ.get("MICTLANX_PEER_URL", "http://localhost:24000"))
    p.add_argument("--router_url", default=os.environ.get("MICTLANX_ROUTER_URL", "http://localhost:60666"))
    p.add_argument("--uri", default=os.environ.get("MICTLANX_URI"))
    return p


def tags(pairs: List[str]) -> Dict[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``."""
    out = {}
    for pair in pairs or []:
        name, _, value = pair.partition("=")
        out[name] = value
    return out
