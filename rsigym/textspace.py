"""The observation's ``Text`` space, fit for Gymnasium's ``AsyncVectorEnv`` with shared memory.

Gymnasium's ``AsyncVectorEnv`` (``gym.make_vec(..., vectorization_mode="async")``) keeps
observations in shared memory by default and decodes that memory once, when it is built: for a
plain ``Text`` space every later observation is the text of that moment (a run of '0's), not
the current one (Gymnasium issue #1164 describes the read-once design). :class:`ObservationText`
registers its own reader with Gymnasium's ``read_from_shared_memory`` (a ``singledispatch``
function, open to new space types), which returns a live view decoded on access.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Iterator

import numpy as np
from gymnasium import spaces
from gymnasium.vector.utils.shared_memory import read_from_shared_memory


class ObservationText(spaces.Text):
    """A :class:`gymnasium.spaces.Text` whose batched shared-memory observations stay current."""


class SharedTexts(Sequence):
    """The ``n`` texts in an ``AsyncVectorEnv``'s shared memory, decoded whenever they are read.

    ``AsyncVectorEnv`` returns a deep copy of its observations (``copy=True``, the default):
    that copy is a tuple of the current strings, as ``SyncVectorEnv`` returns.
    """

    def __init__(self, space: spaces.Text, shared_memory: Any, n: int):
        self._space, self._memory, self._n = space, shared_memory, n
        self._characters = np.array(space.character_list + ("",))  # codes past the alphabet pad the text

    def _codes(self) -> np.ndarray:
        return np.frombuffer(self._memory.get_obj(), dtype=np.int32).reshape((self._n, self._space.max_length))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self)[index]
        codes = np.minimum(self._codes()[index], len(self._characters) - 1)
        return "".join(self._characters[codes])

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(self._n))

    def __deepcopy__(self, memo: dict) -> tuple[str, ...]:
        return tuple(self)

    def __repr__(self) -> str:
        return f"SharedTexts({tuple(self)!r})"


@read_from_shared_memory.register(ObservationText)
def _read_live_texts(space: ObservationText, shared_memory: Any, n: int = 1) -> SharedTexts:
    return SharedTexts(space, shared_memory, n)
