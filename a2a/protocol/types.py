"""A2A v1.0 wire types in ProtoJSON form (specification/a2a.proto, A2A §4, §5.5-5.7).

Fields are camelCase on the wire (snake_case names are accepted too, as ProtoJSON parsers do),
enums travel by name, and unset fields are left out when dumped. The types ignore unknown
fields; a client's request with any is refused before it gets here (``validation.py``).
Validation here is what "invalid params" means: a ``ValidationError`` from these models becomes
-32602 naming each bad field (see ``validation.py``). Requests from clients are validated with
the configured limits in the validation context (``limits.py``): sizes, counts, depths and the
shape of media types, file names and URLs; a file part whose bytes contradict its media type
is refused (``common/media.py``). Objects the server builds itself skip those checks.
"""

from __future__ import annotations

import base64
import binascii
import enum
from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from a2a.protocol import limits as lim
from a2a.protocol.states import WireTaskState
from common.media import media_type_mismatch

MAX_ID_LENGTH = 256


class WireModel(BaseModel):
    """Base of every wire object: camelCase aliases, unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )

    def dump(self) -> dict[str, Any]:
        """Return the ProtoJSON dict: camelCase, enums by name, unset fields omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


Id = Field(min_length=1, max_length=MAX_ID_LENGTH)
OptionalId = Field(default=None, max_length=MAX_ID_LENGTH)
Tenant = Field(default=None, max_length=MAX_ID_LENGTH)
PageToken = Field(default=None, max_length=lim.MAX_PAGE_TOKEN_CHARS)
HistoryLength = Field(default=None, ge=0, le=lim.MAX_INT32)


TaskIdRef = Annotated[lim.Identifier, Field(min_length=1, max_length=MAX_ID_LENGTH)]


class Role(enum.StrEnum):
    UNSPECIFIED = "ROLE_UNSPECIFIED"
    USER = "ROLE_USER"
    AGENT = "ROLE_AGENT"


class Part(WireModel):
    """One piece of content: exactly one of text, raw (base64), url or data."""

    text: str | None = None
    raw: str | None = None
    url: lim.PartUrl = None
    data: Annotated[Any, BeforeValidator(lim.bounded_json)] = None
    metadata: lim.Metadata = None
    filename: lim.Filename = None
    media_type: lim.MediaType = None

    @field_validator("text")
    @classmethod
    def _text_is_bounded(cls, value: str | None, info: ValidationInfo) -> str | None:
        limits = lim.client_limits(info)
        if value is not None and limits is not None:
            lim.check_length(value, limits.text_chars)
        return value

    @field_validator("raw")
    @classmethod
    def _raw_is_base64(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        limits = lim.client_limits(info)
        if limits is not None and len(value) > 4 * (limits.file_bytes // 3 + 1):
            # Refused by its length alone: no need to decode megabytes first.
            raise ValueError(f"holds more than {limits.file_bytes} bytes")
        size = len(decode_bytes(value))
        if limits is not None and size > limits.file_bytes:
            raise ValueError(f"holds {size} bytes; at most {limits.file_bytes} are allowed")
        return value

    @model_validator(mode="after")
    def _exactly_one_content(self, info: ValidationInfo) -> Self:
        present = [
            name for name in ("text", "raw", "url", "data") if getattr(self, name) is not None
        ]
        if len(present) != 1:
            raise ValueError(
                "a part must have exactly one of text, raw, url or data"
                + (f" (got {', '.join(present)})" if present else "")
            )
        if self.raw is not None and self.media_type and lim.client_limits(info) is not None:
            problem = media_type_mismatch(self.media_type, decode_bytes(self.raw))
            if problem is not None:
                raise ValueError(problem)
        return self


def decode_bytes(value: str) -> bytes:
    """Decode ProtoJSON bytes: standard or URL-safe base64, padding optional."""
    padded = value + "=" * (-len(value) % 4)
    try:
        return base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64-encoded bytes") from exc


class Message(WireModel):
    """One unit of communication between a client and the agent."""

    message_id: lim.Identifier = Id
    context_id: lim.OptionalIdentifier = OptionalId
    task_id: lim.OptionalIdentifier = OptionalId
    role: Role
    parts: list[Part] = Field(min_length=1)
    metadata: lim.Metadata = None
    extensions: Annotated[list[lim.ExtensionUri] | None, BeforeValidator(lim.bounded_list)] = None
    reference_task_ids: Annotated[list[TaskIdRef] | None, BeforeValidator(lim.bounded_list)] = None

    @field_validator("parts", mode="before")
    @classmethod
    def _parts_are_bounded(cls, value: Any, info: ValidationInfo) -> Any:
        # Counted before each part is validated, so a flood of parts costs nothing.
        limits = lim.client_limits(info)
        if limits is not None:
            lim.check_count(value, limits.parts)
        return value


class TaskStatus(WireModel):
    state: WireTaskState
    message: Message | None = None
    timestamp: str | None = None


class Artifact(WireModel):
    artifact_id: lim.Identifier = Id
    name: str | None = None
    description: str | None = None
    parts: list[Part] = Field(min_length=1)
    metadata: dict[str, Any] | None = None
    extensions: list[str] | None = None


class Task(WireModel):
    id: str
    context_id: str
    status: TaskStatus
    artifacts: list[Artifact] | None = None
    history: list[Message] | None = None
    metadata: dict[str, Any] | None = None


class TaskStatusUpdateEvent(WireModel):
    task_id: str
    context_id: str
    status: TaskStatus
    metadata: dict[str, Any] | None = None


class TaskArtifactUpdateEvent(WireModel):
    task_id: str
    context_id: str
    artifact: Artifact
    append: bool | None = None
    last_chunk: bool | None = None
    metadata: dict[str, Any] | None = None


class StreamResponse(WireModel):
    """One item of a stream: exactly one of task, message, statusUpdate, artifactUpdate."""

    task: Task | None = None
    message: Message | None = None
    status_update: TaskStatusUpdateEvent | None = None
    artifact_update: TaskArtifactUpdateEvent | None = None


class AuthenticationInfo(WireModel):
    scheme: str = Field(min_length=1, max_length=lim.MAX_AUTH_SCHEME_CHARS)
    credentials: str | None = Field(default=None, max_length=lim.MAX_CREDENTIALS_CHARS)


class TaskPushNotificationConfig(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    id: lim.OptionalIdentifier = OptionalId
    task_id: lim.OptionalIdentifier = OptionalId
    url: lim.WebhookUrl = Field(min_length=1)
    token: str | None = Field(default=None, max_length=lim.MAX_PUSH_TOKEN_CHARS)
    authentication: AuthenticationInfo | None = None


class SendMessageConfiguration(WireModel):
    accepted_output_modes: Annotated[
        list[lim.OutputMode] | None, BeforeValidator(lim.bounded_list)
    ] = None
    task_push_notification_config: TaskPushNotificationConfig | None = None
    history_length: int | None = HistoryLength
    return_immediately: bool = False


class SendMessageRequest(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    message: Message
    configuration: SendMessageConfiguration | None = None
    metadata: lim.Metadata = None


class SendMessageResponse(WireModel):
    task: Task | None = None
    message: Message | None = None


class GetTaskRequest(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    id: lim.Identifier = Id
    history_length: int | None = HistoryLength


class CancelTaskRequest(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    id: lim.Identifier = Id
    metadata: lim.Metadata = None


class SubscribeToTaskRequest(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    id: lim.Identifier = Id
    # webcap: resume after this event sequence number (the WebSocket binding's Last-Event-ID).
    # Sequence numbers are 32-bit columns; the next one asked for must fit too.
    last_event_seq: int | None = Field(default=None, ge=0, lt=lim.MAX_INT32)


class GetTaskPushNotificationConfigRequest(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    task_id: lim.Identifier = Id
    id: lim.Identifier = Id


class DeleteTaskPushNotificationConfigRequest(GetTaskPushNotificationConfigRequest):
    pass


class ListTaskPushNotificationConfigsRequest(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    task_id: lim.Identifier = Id
    page_size: lim.PageSize = Field(default=None, ge=0)
    page_token: str | None = PageToken


class ListTasksRequest(WireModel):
    tenant: lim.OptionalIdentifier = Tenant
    context_id: lim.OptionalIdentifier = Field(default=None, max_length=MAX_ID_LENGTH)
    status: WireTaskState | None = None
    page_size: lim.PageSize = Field(default=None, ge=1)
    page_token: str | None = PageToken
    history_length: int | None = HistoryLength
    status_timestamp_after: AwareDatetime | None = None
    include_artifacts: bool | None = None

    @field_validator("status_timestamp_after")
    @classmethod
    def _timestamp_in_range(cls, value: datetime | None) -> datetime | None:
        # "0001-01-01T00:00:00+01:00" is valid ISO 8601 but has no UTC equivalent.
        if value is None:
            return value
        try:
            return value.astimezone(UTC)
        except OverflowError as exc:
            raise ValueError("is out of range") from exc


class ListTasksResponse(WireModel):
    tasks: list[Task]
    next_page_token: str
    page_size: int
    total_size: int


class TenantRequest(WireModel):
    """A request that carries only a tenant (GetExtendedAgentCardRequest)."""

    tenant: lim.OptionalIdentifier = Tenant


# --- Agent card (§4.4, §4.5) ------------------------------------------------------------------


class AgentInterface(WireModel):
    url: str
    protocol_binding: str
    protocol_version: str
    tenant: str | None = None


class AgentProvider(WireModel):
    url: str
    organization: str


class AgentExtension(WireModel):
    uri: str
    description: str | None = None
    required: bool | None = None
    params: dict[str, Any] | None = None


class AgentCapabilities(WireModel):
    streaming: bool | None = None
    push_notifications: bool | None = None
    extensions: list[AgentExtension] | None = None
    extended_agent_card: bool | None = None


class StringList(WireModel):
    # The proto field is named "list"; the Python name avoids shadowing the builtin.
    values: list[str] = Field(default_factory=list, alias="list")


class SecurityRequirement(WireModel):
    schemes: dict[str, StringList]


class AgentSkill(WireModel):
    id: str
    name: str
    description: str
    tags: list[str]
    examples: list[str] | None = None
    input_modes: list[str] | None = None
    output_modes: list[str] | None = None
    security_requirements: list[SecurityRequirement] | None = None


class HTTPAuthSecurityScheme(WireModel):
    scheme: str
    description: str | None = None
    bearer_format: str | None = None


class APIKeySecurityScheme(WireModel):
    location: str
    name: str
    description: str | None = None


class OpenIdConnectSecurityScheme(WireModel):
    open_id_connect_url: str
    description: str | None = None


class SecurityScheme(WireModel):
    """A oneof over the scheme kinds webcap declares: HTTP bearer, API key, OpenID Connect."""

    api_key_security_scheme: APIKeySecurityScheme | None = None
    http_auth_security_scheme: HTTPAuthSecurityScheme | None = None
    open_id_connect_security_scheme: OpenIdConnectSecurityScheme | None = None


class AgentCardSignature(WireModel):
    """A JWS over the card (A2A §4.4.7, §8.4): base64url protected header and signature."""

    protected: str
    signature: str
    header: dict[str, Any] | None = None


class AgentCard(WireModel):
    name: str
    description: str
    supported_interfaces: list[AgentInterface]
    provider: AgentProvider | None = None
    version: str
    documentation_url: str | None = None
    capabilities: AgentCapabilities
    security_schemes: dict[str, SecurityScheme] | None = None
    security_requirements: list[SecurityRequirement] | None = None
    default_input_modes: list[str]
    default_output_modes: list[str]
    skills: list[AgentSkill]
    icon_url: str | None = None
    signatures: list[AgentCardSignature] | None = None
