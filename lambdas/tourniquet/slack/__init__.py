"""Slack: the channel that carries the cards and the approval gate. It sits below ``approval`` and ``notify``,
which both use it and never import each other for it."""

from tourniquet.slack.client import Message, Slack, record_slack_error

__all__ = ["Message", "Slack", "record_slack_error"]
