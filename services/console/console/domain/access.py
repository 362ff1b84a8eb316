"""Who may use the console, and which actions on a case each role is offered."""

from __future__ import annotations

from console.domain.cases import CaseSummary

# The command hall, the sub-centres and the workstations; grid workers use their own app.
CONSOLE_ROLES = ("community_operator", "sub_centre_operator", "district_operator", "admin")

# Supervision (督办) is a higher tier pressing a lower one; escalation (上报) sends the case up a tier. dispatch
# checks again, with the person's token, that they stand above the case's tier and cover its unit.
ACTIONS: dict[str, tuple[str, ...]] = {
    "supervise": ("community_operator", "sub_centre_operator", "district_operator", "admin"),
    "escalate": ("community_operator", "sub_centre_operator", "district_operator", "admin"),
}


class NotAllowed(PermissionError):
    """The signed-in person may not see this or do this."""


class UnknownAction(ValueError):
    """The action named in the request is not one the console offers."""


def allowed_actions(role: str, case: CaseSummary) -> list[str]:
    if not case.is_open or not case.case_id:
        return []
    return [action for action, roles in ACTIONS.items() if role in roles]


def check_action(role: str, case: CaseSummary, action: str) -> None:
    if action not in ACTIONS:
        raise UnknownAction(f"unknown action {action!r}; one of {', '.join(ACTIONS)}")
    if not case.case_id:
        raise NotAllowed(f"report {case.correlation_id} has no dispatch case yet; wait for its assignment")
    if not case.is_open:
        raise NotAllowed(f"case {case.correlation_id} is {case.state}; nothing can be done to it now")
    if action not in allowed_actions(role, case):
        raise NotAllowed(f"a {role} may not {action} a case")
