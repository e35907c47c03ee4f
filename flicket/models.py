"""Every model of the application, imported in one place.

Alembic, the console scripts and the tests import this module so that the metadata is
complete. Models live in their feature packages.
"""

from flicket.accounts.models import (  # noqa: F401
    ADMIN_GROUP_NAME,
    SUPER_USER_GROUP_NAME,
    ApiToken,
    Group,
    RateLimitHit,
    User,
    user_groups,
)
from flicket.admin.models import Config  # noqa: F401
from flicket.db import Base  # noqa: F401
from flicket.departments.models import Category, Department  # noqa: F401
from flicket.tickets.models import (  # noqa: F401
    Action,
    History,
    Post,
    Priority,
    Status,
    Subscription,
    Ticket,
    TicketTally,
    Upload,
)
