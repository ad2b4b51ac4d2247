"""The seed's other name for ``01_put_metadata.py`` (its README runs
``python3 examples/router/01_put_frames.py --bucket_id bk1 --ball_id b1 --key k1``): the same
PUT step 1 through a router, with the same arguments."""

from __future__ import annotations

import os
import runpy

if __name__ == "__main__":
    runpy.run_path(os.path.join(os.path.dirname(os.path.abspath(__file__)), "01_put_metadata.py"),
                   run_name="__main__")
