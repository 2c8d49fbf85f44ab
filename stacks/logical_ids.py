"""Logical ids that survive grouping a stack's resources into constructs.

CloudFormation tells resources apart by logical id, and CDK derives the id from the construct path below the
stack. Moving a resource under a new construct changes its id, and CloudFormation replaces it: a new, empty
table, regenerated secrets, a new API URL, waiting executions cut off. A stack that groups resources it has
already deployed leaves the groups' ids out of the path (:func:`logical_id_without`), so every resource keeps
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


def logical_id_without(stack: Stack, element: CfnElement, groups: Collection[str]) -> str:
    """``element``'s logical id as if the stack's direct children named in ``groups`` were not there."""
    path = element.node.path.split("/")[len(stack.node.path.split("/")) :]
    if len(path) > 1 and path[0] in groups:
        path = path[1:]
    return logical_id(path)
