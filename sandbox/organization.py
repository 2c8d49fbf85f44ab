"""The sandbox as an AWS organization: a security account that holds the hub, member accounts in
organizational units, and two regions.

moto keeps every account apart: what an account's credentials create is invisible to the others. The
security account is moto's default account (``123456789012``, the credentials the sandbox itself runs with);
every other account is reached through the ``OrganizationAccountAccessRole`` that Organizations creates in
it, as an organization's management account reaches its accounts. In the sandbox the security account is also
the organization's management account, so that ``organizations:ListParents`` answers the hub (in AWS a
delegated administrator can).

The accounts (see :data:`ACCOUNTS`):

* ``123456789012`` security: the hub, and a member like every other (named in ``SCOPE_ACCOUNTS``).
* ``111111111111`` and ``222222222222``, in the ``Workloads`` OU (in ``SCOPE_OUS``): member accounts, and
  the look-alike accounts of a finding from an account the sandbox does not have.
* ``333333333333`` in the ``Playground`` OU: outside the scope (it has the member stack all the same).
* ``444444444444`` in ``Workloads``, excluded (``EXCLUDED_ACCOUNTS``) with a reason.
* ``555555555555`` in ``Workloads``: in the scope, without the member stack (a new account the StackSet has
  not reached yet).

:class:`Placement` decides where a finding's look-alikes live: its own account and region when the sandbox
has them, otherwise a look-alike account (one per finding account, in turn) and the home region.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.organizations import utils as organizations_utils

from sandbox.deploy import DEFAULT_ACCOUNT_ID

HUB_ACCOUNT = DEFAULT_ACCOUNT_ID
HOME_REGION = "eu-west-1"
SECOND_REGION = "us-east-1"
REGIONS = (HOME_REGION, SECOND_REGION)
ACCESS_ROLE = "OrganizationAccountAccessRole"
WORKLOADS_OU = "Workloads"
PLAYGROUND_OU = "Playground"


@dataclass(frozen=True)
class SandboxAccount:
    id: str
    name: str
    ou: str | None
    """The organizational unit it sits in; None: the root."""
    member_stack: bool = True
    excluded: str | None = None
    """Why Tourniquet never acts in it (``EXCLUDED_ACCOUNTS``), if it is excluded."""
    look_alike: bool = False
    """Whether findings from accounts the sandbox does not have are placed here."""


ACCOUNTS: tuple[SandboxAccount, ...] = (
    SandboxAccount(HUB_ACCOUNT, "security", None),
    SandboxAccount("111111111111", "workloads-prod", WORKLOADS_OU, look_alike=True),
    SandboxAccount("222222222222", "workloads-staging", WORKLOADS_OU, look_alike=True),
    SandboxAccount("333333333333", "playground", PLAYGROUND_OU),
    SandboxAccount(
        "444444444444",
        "log-archive",
        WORKLOADS_OU,
        excluded="the log archive account: changed only by hand",
    ),
    SandboxAccount("555555555555", "workloads-new", WORKLOADS_OU, member_stack=False),
)
MEMBER_ACCOUNTS = tuple(account.id for account in ACCOUNTS if account.look_alike)
OUTSIDE_ACCOUNT = "333333333333"
EXCLUDED_ACCOUNT = "444444444444"
UNDEPLOYED_ACCOUNT = "555555555555"

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ids_lock = threading.Lock()


@dataclass(frozen=True)
class Organization:
    """The organization as created in the embedded AWS: its id, root, OUs (by name) and accounts."""

    id: str
    root_id: str
    ous: dict[str, str]
    accounts: tuple[SandboxAccount, ...] = ACCOUNTS
    regions: tuple[str, ...] = REGIONS

    def account(self, account_id: str) -> SandboxAccount | None:
        return next((account for account in self.accounts if account.id == account_id), None)

    @property
    def account_ids(self) -> tuple[str, ...]:
        return tuple(account.id for account in self.accounts)

    @property
    def with_member_stack(self) -> tuple[str, ...]:
        return tuple(account.id for account in self.accounts if account.member_stack)

    def scope_environment(self) -> dict[str, str]:
        """Where the hub acts: its own account, the accounts of the Workloads OU but the excluded one, in the
        sandbox's regions (the functions' ``SCOPE_*`` settings)."""
        excluded = {account.id: account.excluded for account in self.accounts if account.excluded}
        return {
            "SCOPE_ACCOUNTS": HUB_ACCOUNT,
            "SCOPE_OUS": self.ous[WORKLOADS_OU],
            "EXCLUDED_ACCOUNTS": json.dumps(excluded),
            "SCOPE_REGIONS": ",".join(self.regions),
        }


@contextmanager
def _fixed_account_ids(ids: Sequence[str]) -> Iterator[None]:
    """Organizations gives each new account a random id; these accounts get ``ids``, in order."""
    pending = iter(ids)
    original = organizations_utils.make_random_account_id

    def next_id() -> str:
        return next(pending, None) or original()

    with _ids_lock:
        organizations_utils.make_random_account_id = next_id
        try:
            yield
        finally:
            organizations_utils.make_random_account_id = original


def create_organization(
    organizations: Any, accounts: Sequence[SandboxAccount] = ACCOUNTS, regions: Sequence[str] = REGIONS
) -> Organization:
    """Create the organization with ``organizations`` (a client of the management account, the hub's)."""
    organization_id = organizations.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    root_id = organizations.list_roots()["Roots"][0]["Id"]
    ous: dict[str, str] = {}
    for account in accounts:
        if account.ou and account.ou not in ous:
            created = organizations.create_organizational_unit(ParentId=root_id, Name=account.ou)
            ous[account.ou] = created["OrganizationalUnit"]["Id"]
    for account in accounts:
        if account.id == HUB_ACCOUNT:
            continue
        with _fixed_account_ids([account.id]):
            status = organizations.create_account(
                AccountName=account.name, Email=f"aws+{account.name}@sandbox.tourniquet.invalid"
            )["CreateAccountStatus"]
        if status.get("AccountId") != account.id:
            raise RuntimeError(f"Organizations gave {account.name} the id {status.get('AccountId')}")
        if account.ou:
            organizations.move_account(
                AccountId=account.id, SourceParentId=root_id, DestinationParentId=ous[account.ou]
            )
    return Organization(
        id=organization_id, root_id=root_id, ous=ous, accounts=tuple(accounts), regions=tuple(regions)
    )


@dataclass
class Placement:
    """Where a finding's look-alikes live: the finding's own account and region when the sandbox has them.

    A finding from an account the sandbox does not have is placed in a look-alike member account (each such
    account in turn, and the same one every time for the same account); a region the sandbox does not have
    becomes the home region.
    """

    accounts: tuple[str, ...]
    look_alike_accounts: tuple[str, ...]
    regions: tuple[str, ...]
    _mapped: dict[str, str] = field(default_factory=dict)
    _next: Iterator[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def account(self, original: str) -> str:
        if original in self.accounts or not _ACCOUNT_ID.match(original) or not self.look_alike_accounts:
            return original
        with self._lock:
            if original not in self._mapped:
                if self._next is None:
                    self._next = itertools.cycle(self.look_alike_accounts)
                self._mapped[original] = next(self._next)
            return self._mapped[original]

    def region(self, original: str) -> str:
        return original if original in self.regions else self.regions[0]

    def place(self, account: str | None, region: str | None) -> tuple[str, str, dict[str, str]]:
        """``(account, region, {original: look-alike})`` for a finding naming ``account`` and ``region``
        (either may be missing: the hub's account, the home region)."""
        mapping: dict[str, str] = {}
        placed_account = self.account(account) if account else self.accounts[0]
        placed_region = self.region(region) if region else self.regions[0]
        if account and placed_account != account:
            mapping[account] = placed_account
        if region and placed_region != region:
            mapping[region] = placed_region
        return placed_account, placed_region, mapping


def rewrite(value: Any, mapping: Mapping[str, str]) -> Any:
    """``value`` with every original account id and region replaced inside every string."""
    if isinstance(value, dict):
        return {key: rewrite(item, mapping) for key, item in value.items()}
    if isinstance(value, list):
        return [rewrite(item, mapping) for item in value]
    if isinstance(value, str):
        for original in sorted(mapping, key=len, reverse=True):
            value = value.replace(original, mapping[original])
        return value
    return value
