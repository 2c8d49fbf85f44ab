"""Logical ids that survive grouping a stack's resources into constructs.

CloudFormation tells resources apart by logical id, and CDK derives the id from the construct path below the
stack. Moving a resource under a new construct changes its id, and CloudFormation replaces it: a new, empty
table, regenerated secrets, a new API URL, waiting executions cut off. A stack that groups resources it has
already deployed leaves the groups' ids out of the path (:class:`GroupedLogicalIds`), so every resource keeps
the id it was deployed with; ``tests/infra/test_logical_ids.py`` holds the deployed ids.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence

from aws_cdk import CfnElement, Stack

# The addressing scheme of ``Stack.allocateLogicalId`` (documented there): the path's components without
# "Default", joined without separators, consecutive repeats dropped, "Resource" left out of the readable
# part; then the first 8 hex digits of the MD5 of the path joined by "/". A single component is used as is.
_HIDDEN = "Default"
_HIDDEN_FROM_HUMANS = "Resource"
_HASH_LENGTH = 8
_MAX_HUMAN_LENGTH = 240
_MAX_ID_LENGTH = 255


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", text)


def logical_id(path: Sequence[str]) -> str:
    """The logical id CDK allocates to the element at ``path`` (construct ids below the stack)."""
    components = [component for component in path if component != _HIDDEN]
    if not components:
        raise ValueError("a logical id needs at least one path component")
    if len(components) == 1 and len(_alphanumeric(components[0])) <= _MAX_ID_LENGTH:
        return _alphanumeric(components[0])
    digest = hashlib.md5("/".join(components).encode(), usedforsecurity=False).hexdigest()
    human: list[str] = []
    for component in components:
        if not human or not human[-1].endswith(component):
            human.append(component)
    readable = "".join(_alphanumeric(c) for c in human if c != _HIDDEN_FROM_HUMANS)
    return readable[:_MAX_HUMAN_LENGTH] + digest[:_HASH_LENGTH].upper()


class GroupedLogicalIds:
    """A stack's logical ids as if its direct children named in ``groups`` were not there.

    CDK asks for an element's id again each time a reference to it resolves, and reading the element's path
    takes calls into the jsii runtime; so each element's id is worked out once. Synthesizing the hub asks
    about 1,700 times for 140 elements, which took 3 s of the synthesis's 4 s."""

    def __init__(self, groups: Collection[str]) -> None:
        self._groups = frozenset(groups)
        self._depth: int | None = None
        self._known: dict[str, str] = {}

    def allocate(self, stack: Stack, element: CfnElement) -> str:
        # The jsii runtime's reference names the element itself: a Python proxy may be new at each call.
        key: str = element.__jsii_ref__.ref  # type: ignore[attr-defined]
        known = self._known.get(key)
        if known is None:
            if self._depth is None:
                self._depth = len(stack.node.path.split("/"))
            path = element.node.path.split("/")[self._depth :]
            if len(path) > 1 and path[0] in self._groups:
                path = path[1:]
            known = self._known[key] = logical_id(path)
        return known
