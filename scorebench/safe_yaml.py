"""YAML for files and flags a user gives: safe types only, no aliases, no repeated keys.

``yaml.safe_load`` already refuses ``!!python/object``; it still expands aliases (a few
hundred bytes can stand for gigabytes: the "billion laughs") and lets the last of two equal
keys win silently. Both are refused here with the line they are on, and values nested
deeper than :data:`MAX_DEPTH` are refused before anything recurses over them.
"""

from __future__ import annotations

from typing import Any

import yaml

#: Deeper than any config, spec or parameter needs; shallow enough for every recursive walk.
MAX_DEPTH = 100


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"alias *{event.anchor} refused: write the value out instead of "
                "referring to an anchor",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeLoader reports an unhashable key itself
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"key {key!r} appears twice (first {seen[key]}): keep one",
                    key_node.start_mark,
                )
            seen[key] = str(key_node.start_mark).strip()
        return super().construct_mapping(node, deep=deep)


class TooDeep(ValueError):
    """Lists or mappings nested deeper than :data:`MAX_DEPTH`."""


def load(text: str) -> Any:
    """The value of a YAML document; :class:`yaml.YAMLError` or :class:`TooDeep` on anything
    refused above."""
    try:
        value = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:  # the parser recurses per level
        raise TooDeep(f"values are nested more than {MAX_DEPTH} levels deep") from None
    too_deep(value)
    return value


def too_deep(value: Any, limit: int = MAX_DEPTH) -> None:
    """Raise :class:`TooDeep` if lists/mappings in ``value`` nest deeper than
    ``limit`` (walked without recursion, so any depth is safe to check)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list, tuple)):
            if depth > limit:
                raise TooDeep(f"values are nested more than {limit} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
