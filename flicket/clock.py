"""The one clock of the application: naive UTC datetimes, as stored in the database.

Tests move time by patching ``flicket.clock.utcnow``.
"""

from datetime import UTC, datetime


def utcnow():
    return datetime.now(UTC).replace(tzinfo=None)
