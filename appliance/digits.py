"""Whole numbers typed as text. ``str.isdigit`` also takes Unicode digits ('²', '①')
that ``int`` then refuses: a ValueError (a 500, a traceback) where a clear refusal was
meant. Every check of typed digits goes through ``is_number``."""
from __future__ import annotations


def is_number(text: str) -> bool:
    """Whether ``text`` is a whole number written in ASCII digits (``42``; not ``²``, ``-1``)."""
    return text.isascii() and text.isdigit()
