"""A PyYAML loader that reads func.yaml's plain scalars as func does (YAML 1.2 core schema).

func decodes func.yaml with Go's yaml.v3, which follows YAML 1.2: ``yes``/``no``/``on``/
``off`` are strings, ``12:30`` is a string (no base-60 numbers), dates are strings. PyYAML's
SafeLoader follows YAML 1.1 and would read them as true, 750 or a date. This loader
resolves only the core schema's null, bool, int (decimal, ``0o``, ``0x``) and float forms,
keeps ``<<`` merge keys (yaml.v3 has them), and refuses the YAML 1.1 tags that build
non-JSON values (``!!binary``, ``!!timestamp``, ``!!set``, ``!!omap``, ``!!pairs``).

A value that does not fit its explicit tag (``!!int x``) raises ``ConstructorError`` with
its position, like any other YAML error. Env names and values are taken from the node's
source text by the caller (funcyaml), as yaml.v3 does for string fields.
"""

from __future__ import annotations

import re

import yaml
from yaml.constructor import ConstructorError

NULL = "tag:yaml.org,2002:null"
_RESOLVERS = (  # (tag, expression, first characters), in the order they are tried
    (NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
)
_REFUSED = ("binary", "timestamp", "set", "omap", "pairs")


class CoreLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema resolvers (see the module docstring)."""

    yaml_implicit_resolvers: dict = {}
    yaml_constructors = {tag: constructor for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
                         if tag not in {f"tag:yaml.org,2002:{name}" for name in _REFUSED}}

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, TypeError, OverflowError):
            raise ConstructorError(None, None, f"the value does not fit its tag {node.tag}", node.start_mark) from None

    def construct_core_int(self, node) -> int:
        text = self.construct_scalar(node).replace("_", "")
        sign = -1 if text.startswith("-") else 1
        digits = text.lstrip("+-")
        if digits.startswith("0o"):
            return sign * int(digits[2:], 8)
        if digits.startswith("0x"):
            return sign * int(digits[2:], 16)
        return sign * int(digits, 10)


for _tag, _expression, _first in _RESOLVERS:
    CoreLoader.add_implicit_resolver(_tag, re.compile(_expression), _first)
CoreLoader.add_constructor("tag:yaml.org,2002:int", CoreLoader.construct_core_int)
