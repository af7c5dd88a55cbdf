"""Every change to the remote agents registry, each with its audit row.

Registering fetches the agent's card through the SSRF guard, validates it, verifies its
signature under the agent's trust policy and chooses an interface; a card that fails any of
that is refused (400, naming the reason) and the refusal is audited. A refresh is
conditional (the stored ETag and Last-Modified); a card that changed is checked again, and a
refused or unreachable one leaves the last accepted card in place, marked stale with the
reason. The network calls run before the transaction that stores their outcome.

The credential secret goes into no audit row and no log record: rows name the fields that
changed, never a secret's value.
"""

from remote_agents.services.checks import (
    EDITABLE_FIELDS,
    MAX_TIMEOUT_SECONDS,
    CardProblem,
    RemoteAgentInUse,
    RemoteAgentInvalid,
    RemoteAgentRefused,
)
from remote_agents.services.refresh import (
    RefreshOutcome,
    remote_agent_refresh,
    remote_agents_refresh_due,
)
from remote_agents.services.registry import (
    client_user_for,
    remote_agent_delete,
    remote_agent_enable,
    remote_agent_register,
    remote_agent_update,
)

__all__ = [
    "EDITABLE_FIELDS",
    "MAX_TIMEOUT_SECONDS",
    "CardProblem",
    "RefreshOutcome",
    "RemoteAgentInUse",
    "RemoteAgentInvalid",
    "RemoteAgentRefused",
    "client_user_for",
    "remote_agent_delete",
    "remote_agent_enable",
    "remote_agent_refresh",
    "remote_agent_register",
    "remote_agent_update",
    "remote_agents_refresh_due",
]
