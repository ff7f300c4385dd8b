"""12-digit statistical division codes (统计用区划代码).

A code has five parts: 2 digits province, 2 city, 2 county/district, 3 town/street and
3 village, e.g. ``440608100001``. A node's jurisdiction is the significant prefix of its
code: the digits up to and including the deepest non-zero part (``440608`` for a district).

Every function accepts a full 12-digit code or its significant prefix (2, 4, 6, 9 or 12
digits, e.g. ``"4406"``, ``"440608"``, ``"440608100"``) and works on the normalized
12-digit form. A prefix whose last part is zero (``"440600"``) is accepted and simply names
the level above (here the city ``4406``).

Zero parts must be trailing: ``440000100000`` (a town under no city) is rejected. The one
exception are the prefecture-level cities that have no county-level divisions (不设区的地级市:
Dongguan 4419, Zhongshan 4420, Danzhou 4604, Jiayuguan 6202); their towns are coded directly
under the city with a zero district part (Dongguan's 东城街道 is ``441900003000``), so a zero
district part is allowed there. Such a town's parent is the city itself.
"""

from __future__ import annotations

from functools import lru_cache

from yimen.schema.errors import SchemaError

LEVELS = ("province", "city", "district", "town", "village")
PREFIX_LEN = {"province": 2, "city": 4, "district": 6, "town": 9, "village": 12}
CODE_LEN = 12

# The (start, end) digit slices of the five parts, province first.
_PARTS = ((0, 2), (2, 4), (4, 6), (6, 9), (9, 12))
_DIGITS = frozenset("0123456789")
_LEN_TO_LEVEL = {n: lvl for lvl, n in PREFIX_LEN.items()}
LEVEL_NAME_ZH = {"province": "省", "city": "市", "district": "县区", "town": "镇街", "village": "村居"}
LEVEL_ZH = {level: f"{name}级" for level, name in LEVEL_NAME_ZH.items()}

PROVINCE_CODES: frozenset[str] = frozenset(
    [str(n) for n in range(11, 16)]
    + [str(n) for n in range(21, 24)]
    + [str(n) for n in range(31, 38)]
    + [str(n) for n in range(41, 47)]
    + [str(n) for n in range(50, 55)]
    + [str(n) for n in range(61, 66)]
    + ["71", "81", "82"]
)
"""Valid province-level codes: mainland provinces, Taiwan (71), Hong Kong (81), Macao (82)."""

CITIES_WITHOUT_DISTRICTS: frozenset[str] = frozenset({"4419", "4420", "4604", "6202"})
"""City prefixes whose towns sit directly under the city (zero district part allowed)."""


class InvalidRegionCode(SchemaError):
    """A region code (区划代码) is malformed or names no possible division."""

    code = "invalid_region_code"


@lru_cache(maxsize=8192)
def normalize(code: str) -> str:
    """Return the 12-digit form of a region code or of its significant prefix."""
    if not isinstance(code, str):
        raise InvalidRegionCode(
            f"区划代码必须是文字（字符串），收到的是 {type(code).__name__}",
            f"region code must be a string, got {type(code).__name__}",
        )
    text = code.strip()
    bad = [c for c in text if c not in _DIGITS]
    if bad:
        raise InvalidRegionCode(
            f"区划代码只能包含数字 0-9，“{text}”中含有“{bad[0]}”",
            f"region code may contain only digits 0-9; {text!r} contains {bad[0]!r}",
        )
    if len(text) not in _LEN_TO_LEVEL:
        raise InvalidRegionCode(
            f"区划代码应为 12 位（或其 2、4、6、9 位前缀），“{text}”有 {len(text)} 位",
            f"region code must have 12 digits (or a 2, 4, 6 or 9 digit prefix); "
            f"{text!r} has {len(text)}",
        )
    full = text.ljust(CODE_LEN, "0")
    if full[:2] not in PROVINCE_CODES:
        raise InvalidRegionCode(
            f"区划代码“{text}”的省级代码“{full[:2]}”不存在",
            f"region code {text!r}: unknown province code {full[:2]!r}",
        )
    _check_trailing_zeros(full)
    return full


def _check_trailing_zeros(full: str) -> None:
    """Reject a non-zero part below a zero part (Dongguan-like cities excepted)."""
    parts = [full[a:b] for a, b in _PARTS]
    for i in range(1, len(parts)):
        if int(parts[i - 1]) != 0 or int(parts[i]) == 0:
            continue
        # A zero part at i-1 with a non-zero part at i.
        if i - 1 == 2 and full[:4] in CITIES_WITHOUT_DISTRICTS:
            continue
        raise InvalidRegionCode(
            f"区划代码“{full}”中{LEVEL_ZH[LEVELS[i]]}代码非零，但上级"
            f"{LEVEL_ZH[LEVELS[i - 1]]}代码为零",
            f"region code {full!r}: the {LEVELS[i]} part is non-zero "
            f"but the {LEVELS[i - 1]} part above it is zero",
        )


def _level_of_full(full: str) -> str:
    """Level of an already normalized code: the deepest non-zero part."""
    for i in range(len(_PARTS) - 1, -1, -1):
        a, b = _PARTS[i]
        if full[a:b].strip("0"):
            return LEVELS[i]
    return LEVELS[0]  # unreachable: the province part is never zero


def level(code: str) -> str:
    """Return the level of a code: one of ``LEVELS``."""
    return _level_of_full(normalize(code))


def level_rank(level: str) -> int:
    """Return the depth of a level name: province 0, city 1, ... village 4.

    Raises ValueError for an unknown level name (a programming error, not user input).
    """
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(f"unknown region level {level!r}; expected one of {LEVELS}") from None


@lru_cache(maxsize=8192)
def prefix(code: str) -> str:
    """Return the significant digits of a code (``"440608"`` for a district)."""
    full = normalize(code)
    return full[: PREFIX_LEN[_level_of_full(full)]]


def is_within(child: str, parent: str) -> bool:
    """True if ``child`` equals ``parent`` or lies inside ``parent``'s jurisdiction."""
    return normalize(child).startswith(prefix(parent))


def parent_code(code: str) -> str | None:
    """Return the 12-digit code of the division directly above; None for a province."""
    full = normalize(code)
    rank = level_rank(_level_of_full(full))
    for i in range(rank - 1, -1, -1):
        candidate = full[: PREFIX_LEN[LEVELS[i]]].ljust(CODE_LEN, "0")
        if candidate != full:
            return candidate
    return None


def ancestors(code: str) -> list[str]:
    """Return the 12-digit codes of all divisions above ``code``, parent first."""
    result: list[str] = []
    current = parent_code(code)
    while current is not None:
        result.append(current)
        current = parent_code(current)
    return result
