"""Identifiers: random text, distinctive from the first character.

A timestamp prefix would make every short prefix ambiguous, so ids are pure
randomness (80 bits, base32 lowercase); order by the *_at columns instead.
"""

from __future__ import annotations

import base64
import os
import time

ID_LENGTH = 16
SHORT_ID_LENGTH = 8


def new_id() -> str:
    return base64.b32encode(os.urandom(10)).decode("ascii").lower()


def short_id(ident: str) -> str:
    return ident[:SHORT_ID_LENGTH]


def now_ms() -> int:
    return time.time_ns() // 1_000_000
