"""The CloudEvents 1.0 context attribute rules, applied to every event received and replied.

Source: CloudEvents 1.0.2 spec.md ("Type System", "Context Attributes", "Attribute Naming
Convention"), json-format.md 2.2 (JSON types of attributes; ``null`` = unset). ``check``
raises ``ValueError`` with the attribute and the rule it breaks; callers turn that into a 400
(a received event) or a 500 (a reply the function made).

Lenient where the spec only says SHOULD: ``source`` is checked to be a non-empty String
(RFC 3986 syntax is not enforced: producers differ), ``id``/``type``/``subject`` non-empty
Strings. Strict where a value reaches an HTTP header or a client: no control characters
in any String (spec: U+0000–U+001F and U+007F–U+009F are not allowed), ``datacontenttype``
an RFC 2046 media type, ``time`` an RFC 3339 timestamp, extension names ``[a-z0-9]{1,20}``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Mapping

SPECVERSION = "1.0"
REQUIRED = ("specversion", "id", "source", "type")
#: Attribute names (spec: lower-case ASCII letters and digits; this invoker holds them to the
#: 20 characters the spec recommends).
NAME = re.compile(r"[a-z0-9]{1,20}")
CORE = frozenset({"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"})
#: What a String may not hold (spec "Type System"): control characters, surrogate code points, noncharacters.
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef"
                     + "".join(f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17))
                     + "]")


def is_string(value: str) -> bool:
    """Whether ``value`` may be a CloudEvents String: it holds nothing ``CONTROL`` matches.
    A printable string (``str.isprintable``: no Unicode categories Cc, Cs or Cn, among
    others) holds none of them, and is told apart without the pattern (~10× faster)."""
    return value.isprintable() or CONTROL.search(value) is None


_MEDIA_TYPE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+/[!#$%&'*+\-.^_`|~0-9A-Za-z]+[ \t]*(;[^\x00-\x08\x0a-\x1f\x7f]*)?")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
#: RFC 3339 5.6 date-time.
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))")
_INT32 = range(-(2 ** 31), 2 ** 31)


def check(attrs: Mapping[str, Any], strings_only: bool = False) -> None:
    """Raise ValueError unless ``attrs`` are valid CloudEvents 1.0 context attributes.

    ``strings_only``: the values are already strings free of control characters
    (binary-mode headers that were not percent-decoded), so only the rules of their form apply.
    """
    for name in REQUIRED:
        value = attrs.get(name)
        if type(value) is not str or not value:
            _required(name, value)
    if attrs["specversion"] != SPECVERSION:
        raise ValueError(f"specversion {attrs['specversion']!r} is not supported: use {SPECVERSION}")
    for name, value in attrs.items():
        if name not in CORE and NAME.fullmatch(name) is None:
            raise ValueError(f"attribute name {name!r} is not valid: use 1 to 20 lower-case letters and digits")
        if not strings_only and (type(value) is not str or not value.isprintable()):  # printable: a String
            _check_type(name, value)
        rule = _FORMS.get(name)
        if rule is not None:
            rule(name, value)


def _required(name: str, value: Any) -> None:
    """Raise ValueError saying why ``value`` may not be the required attribute ``name``."""
    if value is None:
        raise ValueError(f"required attribute {name} is missing")
    if type(value) is not str:
        raise ValueError(f"attribute {name} must be a string, got {type(value).__name__} {value!r}")
    raise ValueError(f"attribute {name} must not be empty")


def _check_type(name: str, value: Any) -> None:
    if type(value) is str:
        if not is_string(value):
            raise ValueError(f"attribute {name} contains a control character or a code point "
                             f"a String may not hold: {value!r}")
    elif name in CORE:
        raise ValueError(f"attribute {name} must be a string, got {type(value).__name__} {value!r}")
    elif type(value) is int:
        if value not in _INT32:
            raise ValueError(f"attribute {name} must be a 32-bit integer, got {value!r}")
    elif type(value) is not bool:
        raise ValueError(f"attribute {name} must be a string, integer or boolean, got {type(value).__name__}")


def _non_empty(name: str, value: Any) -> None:
    if type(value) is not str or not value:
        raise ValueError(f"attribute {name} must be a non-empty string")


def _timestamp(name: str, value: Any) -> None:
    match = _TIMESTAMP.fullmatch(value) if type(value) is str else None
    try:
        if match is None:
            raise ValueError
        year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
        datetime(year, month, day, hour, minute, min(second, 59))  # 60: a leap second
        if second > 60 or (match[8] is not None and (int(match[8]) > 23 or int(match[9]) > 59)):
            raise ValueError
    except ValueError:
        raise ValueError(f"attribute {name} is not an RFC 3339 timestamp: {value!r} "
                         "(e.g. 2026-01-31T12:00:00Z)") from None


def _media_type(name: str, value: Any) -> None:
    if type(value) is not str or _MEDIA_TYPE.fullmatch(value) is None:
        raise ValueError(f"attribute {name} is not a media type (RFC 2046, e.g. application/json): {value!r}")


def _uri(name: str, value: Any) -> None:
    if type(value) is not str or _URI.fullmatch(value) is None:
        raise ValueError(f"attribute {name} is not an absolute URI: {value!r}")


_FORMS = {"subject": _non_empty, "time": _timestamp, "datacontenttype": _media_type, "dataschema": _uri}


def from_v03(attrs: dict[str, Any]) -> dict[str, Any]:
    """A 0.3 event's attributes as 1.0 ones (spec 1.0 "Changes since 0.3": ``schemaurl`` is
    ``dataschema``; ``datacontentencoding`` is gone — the caller decodes base64 data)."""
    attrs["specversion"] = SPECVERSION
    if "schemaurl" in attrs:
        attrs["dataschema"] = attrs.pop("schemaurl")
    attrs.pop("datacontentencoding", None)
    return attrs
