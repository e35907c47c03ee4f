"""Users and groups: every rule for creating, changing and deleting them, in one place.

The admin pages, the profile page, the API and the import command all go through
``UserService`` (``request.user_service``), so a username, an email address or a password
is judged the same way wherever it comes from. Validation runs completely before anything
changes: a refused request leaves the database as it was.
"""

import logging
import re
import unicodedata

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from pyramid.i18n import TranslationString
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from flicket import clock
from flicket.accounts.models import (
    ADMIN_GROUP_NAME,
    SUPER_USER_GROUP_NAME,
    Group,
    User,
    user_groups,
)
from flicket.accounts.passwords import verify_password
from flicket.i18n import DEFAULT_LOCALE, DOMAIN, LOCALES, _, english

log = logging.getLogger(__name__)

#: Groups the application relies on: never renamed or deleted.
PROTECTED_GROUPS = (ADMIN_GROUP_NAME, SUPER_USER_GROUP_NAME)

USERNAME_LENGTH = (4, 24)
NAME_LENGTH = (4, 60)
EMAIL_LENGTH = (6, 60)
JOB_TITLE_MAX = 64
GROUP_NAME_LENGTH = (3, 64)
BCRYPT_HASH_RE = re.compile(r"^\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}$")

#: What a user may be referenced by; such a user is disabled, never deleted.
USER_FIELDS = ("username", "name", "email", "job_title", "locale", "disabled")


class UserValidationError(ValueError):
    """Some values were refused; ``errors`` maps each field name to its messages (messages
    to translate: ``flicket.i18n.translate`` for a page, ``english`` for the API and logs;
    ``str(error)`` is the English text)."""

    def __init__(self, errors):
        self.errors = errors
        super().__init__("; ".join(english(m) for messages in errors.values() for m in messages))


class UserRefused(ValueError):
    """An operation that is not allowed on this user or group (``message``, to translate,
    says why; ``str(error)`` is the English text)."""

    def __init__(self, message, *, suggest_disable=False):
        super().__init__(english(message))
        self.message = message
        self.suggest_disable = suggest_disable


def listing(items, separator=", "):
    """``items`` (messages to translate, or plain text) as one message, "a, b, c", each item
    shown in the reader's language."""
    keys = {f"item{index}": item for index, item in enumerate(items)}
    return TranslationString(
        separator.join(f"${{{key}}}" for key in keys), domain=DOMAIN, mapping=keys
    )


def _as_text(value):
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def _clean(text):
    """NFC-normalised, stripped text (None for None)."""
    return None if text is None else unicodedata.normalize("NFC", str(text)).strip()


def _has_control_characters(text):
    # Control, format (e.g. right-to-left override), unassigned and private-use characters.
    return any(unicodedata.category(c)[0] == "C" for c in text)


def _length_problem(message, text, low, high):
    """``message`` (with ``${low}`` and ``${high}``) when ``text`` is too short or too long."""
    if not low <= len(text) <= high:
        return message % {"low": low, "high": high}
    return None


class UserService:
    def __init__(self, dbsession, accounts, avatars=None, transaction_manager=None):
        self.db = dbsession
        self.accounts = accounts
        self.avatars = avatars
        self.transaction_manager = transaction_manager

    # -- lookups ------------------------------------------------------------------------------

    def get(self, user_id):
        return self.db.get(User, user_id)

    def groups(self):
        return list(self.db.scalars(sa.select(Group).order_by(Group.group_name, Group.id)))

    def group_named(self, name):
        return self.db.scalars(
            sa.select(Group).where(Group.group_name == name).order_by(Group.id).limit(1)
        ).first()

    def users_page_statement(self):
        """All users, by username (case-insensitively), with their groups for the role."""
        return (
            sa.select(User)
            .options(selectinload(User.groups))
            .order_by(sa.func.lower(User.username), User.id)
        )

    # -- single-field rules ---------------------------------------------------------------------

    def username_problems(self, username, user=None):
        username = unicodedata.normalize("NFKC", username or "").strip()
        problem = _length_problem(
            _("The username must be ${low} to ${high} characters long."),
            username,
            *USERNAME_LENGTH,
        )
        if problem:
            return [problem]
        if "@" in username:
            return [
                _("A username cannot contain '@' (people log in with a username or an email).")
            ]
        if _has_control_characters(username):
            return [_("The username contains characters that cannot be shown.")]
        lowered = username.lower()
        clash = self.db.scalars(
            sa.select(User.id)
            .where(
                sa.or_(
                    sa.func.lower(User.username) == lowered,
                    sa.func.lower(User.email) == lowered,
                ),
                User.id != (user.id if user is not None else -1),
            )
            .limit(1)
        ).first()
        if clash is not None:
            return [_("This username is already taken.")]
        return []

    def email_problems(self, email, user=None, required=True):
        """Problems of ``email``; an empty address is only fine when it is not required."""
        email = _clean(email) or ""
        if not email:
            return [_("Enter an email address.")] if required else []
        problem = _length_problem(
            _("The email address must be ${low} to ${high} characters long."),
            email,
            *EMAIL_LENGTH,
        )
        if problem:
            return [problem]
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError:
            return [_("This is not a valid email address.")]
        existing = self.accounts.find_by_email(email)
        if existing is not None and (user is None or existing.id != user.id):
            return [_("This email address is already used by another account.")]
        return []

    @staticmethod
    def name_problems(name):
        name = _clean(name) or ""
        problem = _length_problem(
            _("The name must be ${low} to ${high} characters long."), name, *NAME_LENGTH
        )
        if problem:
            return [problem]
        if _has_control_characters(name):
            return [_("The name contains characters that cannot be shown.")]
        return []

    @staticmethod
    def job_title_problems(job_title):
        job_title = _clean(job_title) or ""
        if len(job_title) > JOB_TITLE_MAX:
            return [
                _(
                    "The job title must be at most ${max} characters long.",
                    mapping={"max": JOB_TITLE_MAX},
                )
            ]
        if _has_control_characters(job_title):
            return [_("The job title contains characters that cannot be shown.")]
        return []

    @staticmethod
    def locale_problems(locale):
        if locale not in LOCALES:
            return [_("Choose one of the offered languages.")]
        return []

    def password_problems(self, password, user):
        return self.accounts.password_problems(password or "", user)

    @staticmethod
    def check_current_password(user, password):
        """True when ``password`` is the current password of ``user`` (the logged-in user)."""
        return verify_password(password or "", user.password)

    # -- the admin group ----------------------------------------------------------------------

    def _other_enabled_admins(self, user):
        return self.db.scalar(
            sa.select(sa.func.count(sa.distinct(User.id)))
            .join(User.groups)
            .where(
                Group.group_name == ADMIN_GROUP_NAME,
                sa.or_(User.disabled.is_(None), User.disabled.is_(False)),
                User.id != user.id,
            )
        )

    def is_last_admin(self, user):
        """True when ``user`` is the only enabled member of ``flicket_admin``."""
        return bool(user.is_admin and not user.disabled and self._other_enabled_admins(user) == 0)

    # -- create and update --------------------------------------------------------------------

    def _problems(self, values, user, *, actor=None, require_email=False):
        """Every problem of ``values`` (only the keys present are judged), by field."""
        errors = {}

        def add(field, problems):
            if problems:
                errors.setdefault(field, []).extend(problems)

        if "username" in values:
            add("username", self.username_problems(values["username"], user))
        if "name" in values:
            add("name", self.name_problems(values["name"]))
        if "email" in values:
            # An account that never had an address (old Flicket data) may stay without one.
            required = user is None or bool(user.email) or require_email
            add("email", self.email_problems(values["email"], user, required=required))
        if "job_title" in values:
            add("job_title", self.job_title_problems(values["job_title"]))
        if "locale" in values:
            add("locale", self.locale_problems(values["locale"]))
        if values.get("password"):
            candidate = User(
                username=values.get("username", user.username if user else None),
                name=values.get("name", user.name if user else None),
                email=values.get("email", user.email if user else None),
            )
            add("password", self.password_problems(values["password"], candidate))
        if user is not None and actor is not None and actor.id == user.id:
            if values.get("disabled"):
                add("disabled", [_("You cannot disable your own account.")])
        if user is not None and user.is_admin and self.is_last_admin(user):
            if values.get("disabled"):
                add("disabled", [_("The last administrator cannot be disabled.")])
            groups = values.get("groups")
            if groups is not None and ADMIN_GROUP_NAME not in {g.group_name for g in groups}:
                add(
                    "groups",
                    [
                        _(
                            "The last administrator cannot leave the ${group} group.",
                            mapping={"group": ADMIN_GROUP_NAME},
                        )
                    ],
                )
        return errors

    def create_user(
        self,
        *,
        username,
        name,
        email,
        password=None,
        password_hash=None,
        job_title=None,
        locale=DEFAULT_LOCALE,
        disabled=False,
        groups=(),
    ):
        """A new user; raises UserValidationError listing every problem.

        ``password_hash`` (a bcrypt hash, as Flicket exports it) replaces ``password`` for
        the import of existing accounts.
        """
        values = {
            "username": username,
            "name": name,
            "email": email,
            "job_title": job_title,
            "locale": locale,
            "password": None if password_hash else password,
        }
        errors = self._problems(values, None)
        if password_hash:
            if not BCRYPT_HASH_RE.match(_as_text(password_hash)):
                errors["password"] = [_("The password hash is not a bcrypt hash.")]
        elif not password and "password" not in errors:
            errors["password"] = [_("Enter a password.")]
        if errors:
            raise UserValidationError(errors)
        if password_hash:
            hashed = _as_text(password_hash).encode("ascii")
        else:
            hashed = self.accounts.hash_password(password)
        user = User(
            username=unicodedata.normalize("NFKC", username or "").strip(),
            name=_clean(name),
            email=_clean(email),
            job_title=_clean(job_title) or None,
            locale=locale,
            disabled=bool(disabled),
            total_posts=0,
            total_assigned=0,
            date_added=clock.utcnow(),
            password=hashed,
        )
        self.db.add(user)
        self.db.flush()
        if groups:
            self._replace_memberships(user, {g.id for g in groups})
        log.info("user created: user=%s", user.id)
        return user

    def update_user(self, user, *, actor=None, require_email=False, **changes):
        """Change ``user``; returns the names of the fields that really changed.

        ``changes`` may hold ``username``, ``name``, ``email``, ``job_title``, ``locale``,
        ``disabled``, ``groups`` (a list of groups: the new memberships) and ``password``
        (a new password; empty or None keeps the old one). ``actor`` is who makes the change
        (nobody disables themselves); ``require_email=True`` refuses an empty address even
        for an account that has none yet. Disabling the user or changing the password ends
        all of their sessions and API tokens.
        """
        unknown = set(changes) - {*USER_FIELDS, "groups", "password"}
        if unknown:
            raise TypeError(f"unknown user fields: {', '.join(sorted(unknown))}")
        # Only what really changes is judged: an old account whose username or name is
        # shorter than today's rules can still be edited in other ways.
        new_values = {
            field: self._normalised(field, changes[field])
            for field in USER_FIELDS
            if field in changes
        }
        new_values = {
            field: value
            for field, value in new_values.items()
            if value != self._normalised(field, getattr(user, field))
        }
        if "email" in changes and require_email and not new_values.get("email", user.email):
            new_values["email"] = None  # judged: an address is required here
        judged = {**new_values, **{k: changes[k] for k in ("groups", "password") if k in changes}}
        errors = self._problems(judged, user, actor=actor, require_email=require_email)
        if errors:
            raise UserValidationError(errors)
        changed = []
        for field, value in new_values.items():
            if value != self._normalised(field, getattr(user, field)):
                setattr(user, field, value)
                changed.append(field)
        if changes.get("groups") is not None:
            new = {g.id for g in changes["groups"]}
            if new != {g.id for g in user.groups}:
                self._replace_memberships(user, new)
                changed.append("groups")
        if changes.get("password"):
            self.accounts.set_password(user, changes["password"])
            changed.append("password")
        elif "disabled" in changed and user.disabled:
            self.accounts.end_all_sessions(user)
        if changed:
            user.date_modified = clock.utcnow()
            self.db.flush()
            log.info("user changed: user=%s fields=%s", user.id, ",".join(changed))
        return changed

    def _replace_memberships(self, user, group_ids):
        # In SQL: Flicket's link table has no key, so old data may hold duplicate rows.
        self.db.flush()
        self.db.execute(sa.delete(user_groups).where(user_groups.c.user_id == user.id))
        if group_ids:
            self.db.execute(
                sa.insert(user_groups),
                [{"user_id": user.id, "group_id": group_id} for group_id in sorted(group_ids)],
            )
        self.db.expire(user, ["groups"])

    @staticmethod
    def _normalised(field, value):
        """The value of ``field`` as it is stored."""
        if field == "username":
            return unicodedata.normalize("NFKC", value or "").strip() or None
        if field == "disabled":
            return bool(value)
        if field in ("name", "email", "job_title"):
            return _clean(value) or None
        return value

    def set_groups(self, user, groups, actor=None):
        """Replace the memberships of ``user`` (refused for the last administrator)."""
        return "groups" in self.update_user(user, actor=actor, groups=list(groups))

    # -- avatars --------------------------------------------------------------------------------

    def set_avatar(self, user, data, kind):
        """Store checked image ``data`` as the avatar of ``user``; the old file goes after
        the commit (and the new one is removed again if the request fails)."""
        old = user.avatar
        user.avatar = self.avatars.save(data, kind, self.transaction_manager)
        if old:
            self.avatars.delete_after_commit(old, self.transaction_manager)
        self.db.flush()
        return user.avatar

    # -- delete ---------------------------------------------------------------------------------

    def references(self, user):
        """What in the ticket data refers to ``user`` (labels of the kinds found, messages
        to translate)."""
        # Imported here: the ticket models import this package's models.
        from flicket.tickets.models import Action, History, Post, Subscription, Ticket

        checks = (
            (_("tickets created"), Ticket.started_id == user.id),
            (_("tickets assigned"), Ticket.assigned_id == user.id),
            (_("tickets edited"), Ticket.modified_id == user.id),
            (_("replies"), Post.user_id == user.id),
            (_("replies edited"), Post.modified_id == user.id),
            (
                _("ticket activity"),
                sa.or_(Action.user_id == user.id, Action.recipient_id == user.id),
            ),
            (_("edit history"), History.user_id == user.id),
            (_("subscriptions"), Subscription.user_id == user.id),
        )
        found = []
        for label, condition in checks:
            if self.db.scalar(sa.select(sa.exists().where(condition))):
                found.append(label)
        return found

    def delete_problem(self, user, actor):
        """Why ``actor`` may not delete ``user`` (None when the delete may go ahead)."""
        if actor is not None and user.id == actor.id:
            return UserRefused(_("You cannot delete your own account."))
        if self.is_last_admin(user):
            return UserRefused(_("The last administrator cannot be deleted."))
        references = self.references(user)
        if references:
            return UserRefused(
                _(
                    "${name} cannot be deleted because tickets refer to them (${references}). "
                    "Disable the account instead: they will no longer be able to log in, and "
                    "the tickets keep their history.",
                    mapping={
                        "name": user.name or user.username,
                        "references": listing(references),
                    },
                ),
                suggest_disable=True,
            )
        return None

    def delete_user(self, user, actor):
        """Delete ``user``; raises UserRefused when that is not allowed."""
        problem = self.delete_problem(user, actor)
        if problem is not None:
            raise problem
        user_id = user.id
        avatar = user.avatar
        savepoint = self.db.begin_nested()
        try:
            self.db.execute(sa.delete(user_groups).where(user_groups.c.user_id == user_id))
            self.db.expire(user, ["groups"])
            self.db.delete(user)
            self.db.flush()
        except IntegrityError:
            # Something we do not know about still refers to the user.
            savepoint.rollback()
            raise UserRefused(
                _(
                    "This user cannot be deleted because other records refer to them. "
                    "Disable the account instead."
                ),
                suggest_disable=True,
            ) from None
        savepoint.commit()
        if avatar and self.avatars is not None:
            self.avatars.delete_after_commit(avatar, self.transaction_manager)
        log.info("user deleted: user=%s by=%s", user_id, actor.id if actor else None)

    # -- groups ---------------------------------------------------------------------------------

    def group_name_problems(self, name, group=None):
        name = _clean(name) or ""
        problem = _length_problem(
            _("The group name must be ${low} to ${high} characters long."),
            name,
            *GROUP_NAME_LENGTH,
        )
        if problem:
            return [problem]
        if _has_control_characters(name):
            return [_("The group name contains characters that cannot be shown.")]
        clash = self.db.scalars(
            sa.select(Group.id)
            .where(
                sa.func.lower(Group.group_name) == name.lower(),
                Group.id != (group.id if group is not None else -1),
            )
            .limit(1)
        ).first()
        if clash is not None:
            return [_("A group with this name already exists.")]
        return []

    @staticmethod
    def is_protected_group(group):
        return group.group_name in PROTECTED_GROUPS

    def create_group(self, name):
        problems = self.group_name_problems(name)
        if problems:
            raise UserValidationError({"group_name": problems})
        group = Group(group_name=_clean(name))
        self.db.add(group)
        self.db.flush()
        log.info("group created: group=%s", group.id)
        return group

    def rename_group(self, group, name):
        if self.is_protected_group(group):
            raise UserRefused(
                _(
                    "The group ${group} is needed by Flicket and keeps its name.",
                    mapping={"group": group.group_name},
                )
            )
        problems = self.group_name_problems(name, group)
        if problems:
            raise UserValidationError({"group_name": problems})
        group.group_name = _clean(name)
        self.db.flush()
        log.info("group renamed: group=%s", group.id)
        return group

    def delete_group(self, group):
        """Delete ``group`` and its memberships (never a protected group)."""
        if self.is_protected_group(group):
            raise UserRefused(
                _(
                    "The group ${group} is needed by Flicket and cannot be deleted.",
                    mapping={"group": group.group_name},
                )
            )
        group_id = group.id
        self.db.execute(sa.delete(user_groups).where(user_groups.c.group_id == group_id))
        self.db.expire_all()
        self.db.delete(self.db.get(Group, group_id))
        self.db.flush()
        log.info("group deleted: group=%s", group_id)

    def member_counts(self):
        rows = self.db.execute(
            sa.select(
                user_groups.c.group_id, sa.func.count(sa.distinct(user_groups.c.user_id))
            ).group_by(user_groups.c.group_id)
        )
        return dict(rows.all())


def notify_account_changed(request, user, old_email, changed):
    """Tell the previous address of ``user`` that its email address or password changed
    (sent after the commit, like every message, in the user's language).

    The template gets ``email_changed`` and ``password_changed``, and ``changes``: the
    labels of what changed (messages to translate)."""
    from flicket.mail import send_templated_mail

    what = [
        label
        for field, label in (("email", _("email address")), ("password", _("password")))
        if field in changed
    ]
    if not what or not old_email:
        return None
    return send_templated_mail(
        request,
        "account_changed",
        [old_email],
        _("Your account was changed"),
        locale=user.locale,
        user=user,
        changes=what,
        email_changed="email" in changed,
        password_changed="password" in changed,
        when=clock.utcnow(),
    )


def get_user_service(request):
    from flicket.accounts.avatars import get_avatar_storage

    return UserService(
        request.dbsession, request.accounts, get_avatar_storage(request), request.tm
    )


def includeme(config):
    config.add_request_method(get_user_service, "user_service", reify=True)
