"""Addition problems, their text format, and the noisy "web" corpus the base model is pre-trained on.

Text format (character tokens from :data:`ALPHABET`): a problem is ``;a+b=`` and its answer is
the decimal sum followed by ``;``. The ``;`` both separates lines and marks the end of an answer.
"""
from __future__ import annotations

import numpy as np

ALPHABET = "0123456789+=;"
TOKEN = {char: index for index, char in enumerate(ALPHABET)}
SEP = TOKEN[";"]


def encode(text: str) -> list[int]:
    return [TOKEN[char] for char in text]


def decode(tokens: list[int]) -> str:
    return "".join(ALPHABET[t] for t in tokens)


def sample_operands(rng: np.random.Generator, n: int, max_digits: int) -> np.ndarray:
    """``n`` pairs of operands; each operand's digit count is uniform in ``1..max_digits``."""
    digits = rng.integers(1, max_digits + 1, size=(n, 2))
    low = np.where(digits == 1, 0, 10 ** (digits - 1))
    return rng.integers(low, 10**digits)


def unique_problems(rng: np.random.Generator, n: int, max_digits: int, exclude: set[tuple[int, int]]) -> list[tuple[int, int]]:
    """``n`` distinct operand pairs not in ``exclude`` (which grows by the ones returned)."""
    found: list[tuple[int, int]] = []
    while len(found) < n:
        for a, b in sample_operands(rng, 2 * n, max_digits).tolist():
            if (a, b) not in exclude and len(found) < n:
                exclude.add((a, b))
                found.append((a, b))
    return found


def web_corpus(rng: np.random.Generator, n_lines: int, max_digits: int, error_rate: float) -> str:
    """Lines ``a+b=c;`` as scraped from a sloppy web: a fraction ``error_rate`` of sums has one wrong digit."""
    lines = []
    for a, b in sample_operands(rng, n_lines, max_digits).tolist():
        answer = list(str(a + b))
        if rng.random() < error_rate:
            i = int(rng.integers(len(answer)))
            answer[i] = str((int(answer[i]) + int(rng.integers(1, 10))) % 10)
        lines.append(f"{a}+{b}={''.join(answer)};")
    return ";" + "".join(lines)
