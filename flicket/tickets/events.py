"""Events emitted by the ticket service after each operation (``registry.notify``).

Subscribers (e-mail notifications, for example) receive the request, the ticket and the
user who acted; the event is emitted inside the request's transaction, so anything a
subscriber queues for after the commit is dropped when the request fails.
"""

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TicketEvent:
    request: Any
    ticket: Any
    actor: Any


@dataclass
class TicketCreated(TicketEvent):
    pass


@dataclass
class TicketReplied(TicketEvent):
    post: Any = None


@dataclass
class TicketAssigned(TicketEvent):
    assignee: Any = None
    previous_assignee: Any = None


@dataclass
class TicketClaimed(TicketEvent):
    previous_assignee: Any = None


@dataclass
class TicketReleased(TicketEvent):
    previous_assignee: Any = None


@dataclass
class TicketClosed(TicketEvent):
    previous_status: Any = None
    previous_assignee: Any = None


@dataclass
class TicketStatusChanged(TicketEvent):
    previous_status: Any = None


@dataclass
class TicketPriorityChanged(TicketEvent):
    previous_priority: Any = None


@dataclass
class TicketCategoryChanged(TicketEvent):
    previous_category: Any = None


@dataclass
class TicketSubscribed(TicketEvent):
    subscriber: Any = None


@dataclass
class TicketUnsubscribed(TicketEvent):
    subscriber: Any = None


@dataclass
class TicketEdited(TicketEvent):
    changes: list = field(default_factory=list)


@dataclass
class PostEdited(TicketEvent):
    post: Any = None


@dataclass
class TicketDeleted(TicketEvent):
    pass


@dataclass
class PostDeleted(TicketEvent):
    post: Any = None
