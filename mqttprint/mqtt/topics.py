"""Every MQTT topic string the gateway uses, built and parsed in one place.

Pure: no paho, no I/O. `B` below is `<base_topic>/<printer id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Optional

#: Inbound kinds: the last topic level under `B/` (system actions have two more levels).
COMMAND = "command"
EMERGENCY = "emergency"
CONNECTION = "connection"
JOB = "job"
SYSTEM = "system"
PROMPT_ANSWER = "prompt/answer"

INBOUND_KINDS = (COMMAND, EMERGENCY, CONNECTION, JOB, SYSTEM, PROMPT_ANSWER)


def gateway_availability(base: str, gateway_id: str) -> str:
    """`<base>/gateway/<id>/availability`: the gateway's own online/offline (its connection's
    last will). `<base>/availability` is not written: two gateways on one base topic would."""
    return f"{base}/gateway/{gateway_id}/availability"


def gateway_info(base: str, gateway_id: str) -> str:
    """`<base>/gateway/<id>/info`: the gateway's retained descriptor (fleet_view.gateway_info)."""
    return f"{base}/gateway/{gateway_id}/info"


def gateway_reply(base: str, gateway_id: str) -> str:
    """`<base>/gateway/<id>/reply`: where other gateways answer this one's fleet requests."""
    return f"{base}/gateway/{gateway_id}/reply"


def is_gateway_reply(base: str, topic: str) -> bool:
    """Whether `topic` is some gateway's `<base>/gateway/<id>/reply`."""
    parts = topic[len(base) + 1:].split("/") if topic.startswith(base + "/") else []
    return len(parts) == 3 and parts[0] == "gateway" and bool(parts[1]) and parts[2] == "reply"


def gateway_sync(base: str, gateway_id: str) -> str:
    """`<base>/gateway/<id>/sync`: a non-retained probe the gateway sends itself after
    subscribing; when it comes back, every retained descriptor has arrived before it."""
    return f"{base}/gateway/{gateway_id}/sync"


def discovery_config(prefix: str, gateway_id: str, printer_id: str) -> str:
    """Home Assistant device-based discovery topic for one printer of one gateway."""
    return f"{prefix}/device/{node_id(gateway_id, printer_id)}/config"


def legacy_discovery_config(prefix: str, printer_id: str) -> str:
    """The discovery topic of versions before the gateway identity (retired on upgrade)."""
    return f"{prefix}/device/{legacy_node_id(printer_id)}/config"


def discovery_status(prefix: str) -> str:
    """Home Assistant's birth/will topic (`online` means: publish discovery again)."""
    return f"{prefix}/status"


def node_id(gateway_id: str, printer_id: str) -> str:
    """The discovery node id, device identifier and unique-id prefix of a printer: the gateway's
    identity and the printer id (stable across restarts; two gateways never share one)."""
    return f"mqttprint_{gateway_id}_{printer_id}"


def legacy_node_id(printer_id: str) -> str:
    """The node id before the gateway identity was part of it (`mqttprint_<printer id>`)."""
    return f"mqttprint_{printer_id}"


def has_wildcard(topic: str) -> bool:
    """Whether a topic contains MQTT wildcards (not allowed in a PUBLISH topic)."""
    return "+" in topic or "#" in topic


@dataclass(frozen=True, slots=True)
class PrinterTopics:
    """The topics of one printer, `B` = `<base>/<printer id>`."""

    base: str
    printer_id: str

    @property
    def root(self) -> str:
        return f"{self.base}/{self.printer_id}"

    # ---------------------------------------------------------------- outbound
    @property
    def availability(self) -> str:
        return f"{self.root}/availability"

    @property
    def status(self) -> str:
        return f"{self.root}/status"

    @property
    def position(self) -> str:
        return f"{self.root}/position"

    @property
    def temperature(self) -> str:
        return f"{self.root}/temperature"

    @property
    def progress(self) -> str:
        return f"{self.root}/progress"

    @property
    def firmware(self) -> str:
        return f"{self.root}/firmware"

    @property
    def system_list(self) -> str:
        """`B/system`: the retained list of system commands (an outbound topic)."""
        return f"{self.root}/system"

    @property
    def prompt(self) -> str:
        """`B/prompt`: the firmware's open prompt (retained JSON)."""
        return f"{self.root}/prompt"

    @property
    def thumbnail(self) -> str:
        """`B/thumbnail`: the selected job's thumbnail, raw PNG (retained; empty when none)."""
        return f"{self.root}/thumbnail"

    @property
    def camera(self) -> str:
        """`B/camera`: a JPEG snapshot every `webcam.mqtt_interval` seconds (not retained)."""
        return f"{self.root}/camera"

    @property
    def reply(self) -> str:
        return f"{self.root}/reply"

    @property
    def terminal(self) -> str:
        return f"{self.root}/terminal"

    def event(self, name: str) -> str:
        """`B/event/<Name>` (non-retained)."""
        return f"{self.root}/event/{name}"

    # ---------------------------------------------------------------- inbound
    @property
    def command(self) -> str:
        return f"{self.root}/command"

    @property
    def emergency(self) -> str:
        return f"{self.root}/emergency"

    @property
    def connection(self) -> str:
        return f"{self.root}/connection"

    @property
    def job(self) -> str:
        return f"{self.root}/job"

    @property
    def prompt_answer(self) -> str:
        """`B/prompt/answer`: a button index answers the open prompt."""
        return f"{self.root}/prompt/answer"

    def system_action(self, source: str, action: str) -> str:
        """`B/system/<source>/<action>`: execute one configured system command."""
        return f"{self.root}/system/{source}/{action}"

    def subscriptions(self) -> list[str]:
        """The filters the gateway subscribes to for this printer.

        `B/system/#` also matches `B/system` itself, which is our own retained outbound list:
        `parse_inbound` ignores it so the gateway never treats its own publication as a request.
        """
        return [self.command, self.emergency, self.connection, self.job, f"{self.root}/system/#", self.prompt_answer]


@dataclass(frozen=True, slots=True)
class Inbound:
    """What an inbound topic names: printer, kind, and for system actions source + action."""

    printer_id: str
    kind: str
    source: Optional[str] = None
    action: Optional[str] = None
    #: why the topic is malformed (e.g. a system topic without an action), or "" when fine
    problem: str = ""


def parse_inbound(base: str, topic: str, printer_ids: Iterable[str]) -> Optional[Inbound]:
    """Map an inbound topic to what it asks for; None for topics that are not requests.

    Returns an `Inbound` with `problem` set for request topics that are malformed, so the
    caller can answer with an error instead of silently dropping the message.
    """
    prefix = base + "/"
    if not topic.startswith(prefix):
        return None
    parts = topic[len(prefix):].split("/")
    if len(parts) < 2 or parts[0] not in set(printer_ids):
        return None
    printer_id, kind, rest = parts[0], parts[1], parts[2:]
    if kind in (COMMAND, EMERGENCY, CONNECTION, JOB):
        return None if rest else Inbound(printer_id, kind)
    if kind == "prompt":
        # B/prompt itself is our own retained state, never a request.
        return Inbound(printer_id, PROMPT_ANSWER) if rest == ["answer"] else None
    if kind == SYSTEM:
        if not rest:
            return None  # B/system: our own retained list of commands, not a request
        if len(rest) != 2 or not rest[0] or not rest[1]:
            return Inbound(printer_id, SYSTEM, problem="system topics are B/system/<source>/<action>")
        return Inbound(printer_id, SYSTEM, source=rest[0], action=rest[1])
    return None


def is_own_inbound(base: str, topic: str, printer_ids: Iterable[str]) -> bool:
    """Whether `topic` is one of this gateway's request topics (never a valid reply target)."""
    return parse_inbound(base, topic, printer_ids) is not None


def reply_namespace(base: str, printer_id: str) -> str:
    """Where a MQTT 5 ResponseTopic under the base topic may point: `B/reply` and below it."""
    return f"{base}/{printer_id}/reply"


def response_topic_problem(base: str, discovery_prefix: str, printer_id: str, topic: str) -> Optional[str]:
    """Why a request's MQTT 5 ResponseTopic is refused, or None.

    Replies must never land on the gateway's own topics (`B/status`, `<base>/availability`, a
    request topic, ...) nor on Home Assistant's discovery topics: that would overwrite the
    gateway's state, or turn a reply into a command, with the gateway's own broker rights. Under
    the base topic only the reply namespace `B/reply[/...]` and the gateways' fleet reply topics
    `<base>/gateway/<id>/reply` are allowed.
    """
    if not topic or has_wildcard(topic) or topic.startswith("$"):
        return f"ResponseTopic {topic[:80]!r} is not a topic a reply can be published to"
    replies = reply_namespace(base, printer_id)
    if topic == replies or topic.startswith(replies + "/"):
        return None
    if is_gateway_reply(base, topic):
        return None  # another gateway's fleet request: its reply topic is neither state nor a request
    for root in (base, discovery_prefix):
        if topic == root or topic.startswith(root + "/"):
            return (f"ResponseTopic {topic[:80]!r} is under {root}/ (the gateway's own topics); use a topic "
                    f"of your own, or {replies}/<anything>")
    return None
