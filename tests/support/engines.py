"""The two attribution engines the model's hand-computed tests run on (``engine_impl``, tests/model).

``attribute_window`` is the reference; the vectorised engine must return exactly what it returns. The
vectorised engine runs here with ``fallback=False``, so a pass proves that the numpy path itself made the
lines, not the reference it falls back to outside its exact domain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from attribution.model.attribute import Attribution, attribute_window
from attribution.model.vectorized import attribute_window_vectorized
from attribution.model.vectorized_kernels import NotVectorisableError

#: ``attribute_window``'s signature: (pools, cluster, policies, scope=WHOLE_WINDOW) -> Attribution
WindowEngine = Callable[..., Attribution]

vectorised = functools.partial(attribute_window_vectorized, split_lines=True, fallback=False)


def vectorised_exactly(pools: Any, cluster: Any, *args: Any, **kwargs: Any) -> Attribution:
    """The vectorised engine without its fallback; refusing an input is a failure unless the reference
    refuses it too (then the reference's error is what the test sees)."""
    pools, cluster = list(pools), list(cluster)
    try:
        return vectorised(pools, cluster, *args, **kwargs)
    except NotVectorisableError:
        # outside the exact domain: acceptable only where the reference refuses the input too
        attribute_window(pools, cluster, *args, **kwargs)
        raise AssertionError("the vectorised engine refused what the reference accepts") from None


ENGINES: dict[str, WindowEngine] = {"reference": attribute_window, "vectorised": vectorised_exactly}
