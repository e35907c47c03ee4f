"""The role groups of many users in one query.

A user's name is shown with their role (admin, super user: colour, icon and word), which
needs their groups. Pages that name many people (a ticket list, a ticket with its replies,
actions and subscribers) load the groups of all of them at once with ``load_role_groups``
instead of one eager-load query per relationship.
"""

import sqlalchemy as sa
from sqlalchemy.orm.attributes import set_committed_value

from flicket.accounts.models import Group, user_groups


def load_role_groups(dbsession, users):
    """Set ``groups`` on every user of ``users`` (None allowed) with one query."""
    by_id = {user.id: user for user in users if user is not None}
    if not by_id:
        return
    groups = {user_id: [] for user_id in by_id}
    pairs = dbsession.execute(
        sa.select(user_groups.c.user_id, Group)
        .join(Group, Group.id == user_groups.c.group_id)
        .where(user_groups.c.user_id.in_(list(by_id)))
        .order_by(Group.group_name)
    )
    for user_id, group in pairs:
        groups[user_id].append(group)
    for user_id, user in by_id.items():
        set_committed_value(user, "groups", groups[user_id])
