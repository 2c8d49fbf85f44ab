"""Slack: the Web API client and its mrkdwn. It sits below ``approval``, ``notify`` and ``channels``, which
all use it and never import each other for it: the approval gate (the cards and their buttons) calls the
client, and the Slack channel (``tourniquet.channels.slack``) tells each change of status like every other
channel."""

from tourniquet.slack import mrkdwn
from tourniquet.slack.client import Message, Slack, record_slack_error

__all__ = ["Message", "Slack", "mrkdwn", "record_slack_error"]
