"""Length-sorted batching shared by the torch and ONNX encoders."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np


def encode_by_length(texts: Sequence[str], size: int, run: Callable[[list[str]], np.ndarray], dimension: int,
                     progress: Callable[[int], None] | None = None, report_every: int = 1,
                     mapper: Callable[[Callable, list], Iterable] = map) -> np.ndarray:
    """Embed ``texts`` in slices of ``size``, shortest first, and return the vectors in input order.

    Sorting by length makes each padded batch short. ``run`` embeds one slice; ``mapper`` applies
    it to every slice (``map``, or an executor's ``map`` to run slices concurrently; results come
    back in order). ``progress(n)`` is called from this thread with the number of texts done
    since the last call, once at least ``report_every`` have been, and for the remainder at the end.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    parts = [order[b : b + size] for b in range(0, len(order), size)]
    out = np.zeros((len(texts), dimension), dtype=np.float32)
    pending = 0
    for part, vectors in zip(parts, mapper(lambda part: run([texts[i] for i in part]), parts)):
        out[part] = vectors
        pending += len(part)
        if progress and pending >= report_every:
            progress(pending)
            pending = 0
    if progress and pending:
        progress(pending)
    return out
