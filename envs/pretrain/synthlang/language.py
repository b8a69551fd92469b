"""Synthetic languages with an exactly known entropy: random unifilar probabilistic automata.

A language is a probabilistic finite automaton over ``n_symbols`` symbols. In state ``k`` it
emits symbol ``v`` with probability ``emit[k, v]`` and moves to ``next_state[k, v]``. Because
the next state is a function of the current state and the emitted symbol (the automaton is
*unifilar*), the state at every position is fixed by the start state and the prefix. The
Bayes-optimal predictor therefore knows the exact next-symbol distribution ``emit[state]``, and
the expected cross-entropy of any model is at least the mean entropy of those distributions,
which :meth:`Automaton.entropy_bits` computes exactly by propagating the state distribution.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Automaton:
    """A unifilar probabilistic automaton: ``emit[K, V]`` probabilities and ``next_state[K, V]``."""

    emit: np.ndarray
    next_state: np.ndarray
    start: int = 0

    @property
    def n_states(self) -> int:
        return self.emit.shape[0]

    @property
    def n_symbols(self) -> int:
        return self.emit.shape[1]

    def sample(self, n_docs: int, length: int, rng: np.random.Generator) -> np.ndarray:
        """``n_docs`` documents of ``length`` symbols, each started in the start state."""
        cdf = np.cumsum(self.emit, axis=1)
        docs = np.empty((n_docs, length), dtype=np.int64)
        state = np.full(n_docs, self.start)
        for t in range(length):
            draw = rng.random(n_docs)
            symbol = np.minimum((draw[:, None] >= cdf[state]).sum(axis=1), self.n_symbols - 1)
            docs[:, t] = symbol
            state = self.next_state[state, symbol]
        return docs

    def surprisal_bits(self, docs: np.ndarray) -> np.ndarray:
        """``-log2 p(x_t | x_<t)`` under this source, per document and position."""
        out = np.empty(docs.shape, dtype=np.float64)
        state = np.full(docs.shape[0], self.start)
        with np.errstate(divide="ignore"):
            for t in range(docs.shape[1]):
                out[:, t] = -np.log2(self.emit[state, docs[:, t]])
                state = self.next_state[state, docs[:, t]]
        return out

    def transition_matrix(self) -> np.ndarray:
        """``P[k, j]`` = probability of moving from state ``k`` to state ``j`` in one symbol."""
        matrix = np.zeros((self.n_states, self.n_states))
        for k in range(self.n_states):
            np.add.at(matrix[k], self.next_state[k], self.emit[k])
        return matrix

    def entropy_bits(self, length: int) -> float:
        """Exact expected ``-log2 p(x_t | x_<t)`` averaged over positions ``1..length`` of a document.

        This is the cross-entropy of the true source on its own documents: the floor no model
        of this text can beat in expectation.
        """
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(self.emit > 0, -self.emit * np.log2(self.emit), 0.0)
        state_entropy = terms.sum(axis=1)
        transition = self.transition_matrix()
        occupancy = np.zeros(self.n_states)
        occupancy[self.start] = 1.0
        total = 0.0
        for _ in range(length):
            total += float(occupancy @ state_entropy)
            occupancy = occupancy @ transition
        return total / length

    def save(self, path: Path) -> None:
        np.savez(path, emit=self.emit, next_state=self.next_state, start=np.array(self.start))

    @classmethod
    def load(cls, path: Path) -> "Automaton":
        with np.load(path) as saved:
            return cls(saved["emit"], saved["next_state"], int(saved["start"]))


def random_automaton(
    rng: np.random.Generator, n_states: int, n_symbols: int, support: tuple[int, int] = (3, 4), alpha: float = 1.0
) -> Automaton:
    """A random language: each state emits a Dirichlet-weighted handful of symbols and jumps at random."""
    emit = np.zeros((n_states, n_symbols))
    for k in range(n_states):
        allowed = rng.choice(n_symbols, size=int(rng.integers(support[0], support[1] + 1)), replace=False)
        emit[k, allowed] = rng.dirichlet(np.full(len(allowed), alpha))
    next_state = rng.integers(0, n_states, size=(n_states, n_symbols))
    return Automaton(emit, next_state)


def related_automaton(target: Automaton, rng: np.random.Generator, distance: float) -> Automaton:
    """A relative of ``target``: a ``distance`` fraction of states get new emissions and new jumps.

    ``distance=0`` is the target itself; ``distance=1`` is an unrelated language on the same alphabet.
    """
    fresh = random_automaton(rng, target.n_states, target.n_symbols)
    changed = rng.random(target.n_states) < distance
    emit = np.where(changed[:, None], fresh.emit, target.emit)
    rewired = rng.random(target.next_state.shape) < distance / 2
    next_state = np.where(rewired, fresh.next_state, target.next_state)
    return Automaton(emit, next_state, target.start)
