"""The quarter each firm was founded by: the aggregates count a firm in every quarter that ends
on or after the end of its founding quarter, so each founding date becomes that quarter's end,
as ISO text compared as text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

# The end of each quarter as the tail of an ISO date, by quarter index 0–3.
QUARTER_TAILS = np.frombuffer(b"-03-31-06-30-09-30-12-31", dtype=np.uint8).reshape(4, 6)
# A firm whose founding date is unknown: counted in every quarter.
UNKNOWN_DATE = "0000-00-00"


def founded_by(founded: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The end of the quarter of each ISO date (``S10``), as text; unknown dates stay
    '0000-00-00'. Vectorised over the bytes, and the text made straight from them (no
    Python string per date): a million dates in milliseconds."""
    digits = founded.view(np.uint8).reshape(-1, 10).astype(np.int16) - ord("0")
    month = digits[:, 5] * 10 + digits[:, 6]
    out = founded.view(np.uint8).reshape(-1, 10).copy()
    known = month > 0
    out[known, 4:] = QUARTER_TAILS[(month[known] - 1) // 3]
    offsets = np.arange(0, 10 * len(out) + 1, 10, dtype=np.int64)
    text = pa.Array.from_buffers(pa.large_string(), len(out),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(out.reshape(-1))])
    return pd.array(text, dtype="str")
