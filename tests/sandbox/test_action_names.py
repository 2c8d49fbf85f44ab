"""moto's list of a response class's actions is made once per class, and again when a patch changes the
class's lineage: an action added after the first request is still found."""

from __future__ import annotations

from moto.core import responses as moto_responses

from sandbox.patches import Patcher, install_action_names_cache


class _Base:
    def describe_things(self) -> None: ...


class _Responses(_Base):
    def list_things(self) -> None: ...


def test_an_action_added_to_a_class_after_its_actions_were_listed_is_found():
    patcher = Patcher()
    install_action_names_cache(patcher)
    try:
        before = moto_responses.method_names_from_class(_Responses)
        _Base.lookup_things = lambda self: None  # type: ignore[attr-defined]
        after = moto_responses.method_names_from_class(_Responses)
        del _Base.lookup_things  # type: ignore[attr-defined]
        gone = moto_responses.method_names_from_class(_Responses)
    finally:
        patcher.restore()

    assert before == ["describe_things", "list_things"]
    assert after == ["describe_things", "list_things", "lookup_things"]
    assert gone == before


def test_the_list_is_made_once_per_class():
    patcher = Patcher()
    install_action_names_cache(patcher)
    try:
        first = moto_responses.method_names_from_class(_Responses)
        second = moto_responses.method_names_from_class(_Responses)
    finally:
        patcher.restore()

    assert first is second
    assert moto_responses.method_names_from_class(_Responses) is not first  # restored: moto lists afresh
