"""Exceptions named for the Step Functions errors they become (``Retry``/``Catch`` ``ErrorEquals``)."""

from __future__ import annotations


class TourniquetError(Exception):
    """Base class; the class name is the Step Functions error name."""


class InvalidAlert(TourniquetError):
    """The input cannot be turned into an alert. Not retried. ``field`` names the unusable field if known."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Throttled(TourniquetError):
    """AWS kept throttling after the client's own retries; the state machine retries with backoff."""


class ContainmentFailed(TourniquetError):
    """A containment action could not be carried out."""


class VerificationFailed(TourniquetError):
    """An action ran but re-reading the resource did not prove it took effect."""


class TargetNotFound(TourniquetError):
    """The resource named by the alert does not exist (any more)."""


class ApprovalDenied(TourniquetError):
    """An approver denied the destructive step (sent with SendTaskFailure)."""


class ApprovalExpired(TourniquetError):
    """The approval ran out of time before anyone decided."""


class SlackUnavailable(TourniquetError):
    """Slack could not be reached or refused the call."""


class EscalationFailed(TourniquetError):
    """The escalation topic could not be published to (the page that must never be lost)."""


class DiagnosticFailed(TourniquetError):
    """A read-only diagnostic could not be completed (the workflow reports it as unavailable)."""


class RootRefused(ContainmentFailed):
    """The target is the account's root user: Tourniquet never changes it, it alerts and escalates only."""


class OutOfScope(TourniquetError):
    """The target's account or region is not one Tourniquet acts in; nothing was called there."""


class MemberRoleUnavailable(TourniquetError):
    """Tourniquet's role in the target's account could not be assumed (the member stack is missing there,
    or its role does not trust this deployment)."""


class ReleaseFailed(TourniquetError):
    """Releasing an incident could not restore every recorded before-state."""
