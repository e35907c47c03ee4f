"""Who may do what: the one role × action table of Flicket (SECURITY-TESTS ACL-2).

Written once, as data. It drives the access tests of the pages and of the JSON API alike
(``tests/security/test_access_matrix.py``) and the "which buttons are shown" test
(``tests/functional/test_ticket_permissions.py``). Sources: PRODUCT.md §3 and the
"Intended / recommended" column of FLICKET-REFERENCE.md §2, as the application implements
them in ``flicket/tickets/resources.py`` (ticket and reply ACLs), ``flicket/resources.py``
(department managers, the admin panel) and ``flicket/permissions.py``.

The actors, on one ticket of the fixture world: ``creator`` (alice) raised it, ``assignee``
(bob) is assigned to it and wrote its reply, ``other`` (carol) has nothing to do with it,
``super`` is a super_user, ``admin`` an administrator, ``disabled`` (dave) had a session
and an API token before he was disabled, and ``anonymous`` never logged in.

Outcomes:

``ok``       done: the database holds the change (read-only actions: 200, nothing changed);
``deny``     forbidden: page 403, API JSON 403; nothing changed;
``login``    not authenticated: page redirect to the login page, API JSON 401; nothing changed;
``refused``  allowed, but the ticket's state says no (bob claiming the ticket he already
             holds): page back to the ticket with a message, API 409; nothing changed.
"""

ACTORS = ("admin", "super", "creator", "assignee", "other", "disabled", "anonymous")

#: The fixture user who plays each actor (tests/conftest.py ``users``).
CAST = {
    "admin": "admin",
    "super": "super",
    "creator": "alice",
    "assignee": "bob",
    "other": "carol",
    "disabled": "dave",
    "anonymous": None,
}

OUTCOMES = ("ok", "deny", "login", "refused")

POLICY_TABLE = """
action                    admin  super  creator  assignee  other  disabled  anonymous
# tickets and replies
view_ticket               ok     ok     ok       ok        ok     login     login
create_ticket             ok     ok     ok       ok        ok     login     login
edit_ticket               ok     deny   ok       deny      deny   login     login
edit_reply                ok     deny   deny     ok        deny   login     login
reply                     ok     ok     ok       ok        ok     login     login
reply_and_close           ok     deny   ok       ok        deny   login     login
close                     ok     deny   ok       ok        deny   login     login
release                   ok     deny   deny     ok        deny   login     login
claim                     ok     ok     ok       refused   ok     login     login
assign                    ok     ok     ok       ok        ok     login     login
change_priority           ok     ok     ok       ok        ok     login     login
delete_ticket             ok     deny   deny     deny      deny   login     login
delete_reply              ok     deny   deny     deny      deny   login     login
change_category_off       deny   deny   deny     deny      deny   login     login
change_category_everyone  ok     ok     ok       ok        ok     login     login
change_category_admin     ok     ok     deny     deny      deny   login     login
# subscriptions
subscribe                 ok     ok     ok       ok        ok     login     login
unsubscribe_self          ok     ok     ok       ok        ok     login     login
unsubscribe_other         ok     ok     deny     deny      deny   login     login
# departments and categories
view_departments          ok     ok     ok       ok        ok     login     login
add_department            ok     ok     deny     deny      deny   login     login
rename_department         ok     ok     deny     deny      deny   login     login
delete_department         ok     ok     deny     deny      deny   login     login
add_category              ok     ok     deny     deny      deny   login     login
rename_category           ok     ok     deny     deny      deny   login     login
delete_category           ok     ok     deny     deny      deny   login     login
# users
view_users                ok     ok     ok       ok        ok     login     login
view_user                 ok     ok     ok       ok        ok     login     login
# the admin panel (configuration, users, groups)
admin_home                ok     deny   deny     deny      deny   login     login
admin_config              ok     deny   deny     deny      deny   login     login
admin_add_user            ok     deny   deny     deny      deny   login     login
admin_edit_user           ok     deny   deny     deny      deny   login     login
admin_delete_user         ok     deny   deny     deny      deny   login     login
admin_add_group           ok     deny   deny     deny      deny   login     login
"""

#: Through which interface each action can be done: the pages, the API or both.
PAGE, API = "page", "api"
CHANNELS = {
    "view_ticket": (PAGE, API),
    "create_ticket": (PAGE, API),
    "edit_ticket": (PAGE,),
    "edit_reply": (PAGE,),
    "reply": (PAGE, API),
    "reply_and_close": (PAGE,),
    "close": (PAGE, API),
    "release": (PAGE, API),
    "claim": (PAGE, API),
    "assign": (PAGE, API),
    "change_priority": (PAGE, API),
    "delete_ticket": (PAGE,),
    "delete_reply": (PAGE,),
    "change_category_off": (PAGE, API),
    "change_category_everyone": (PAGE, API),
    "change_category_admin": (PAGE, API),
    "subscribe": (PAGE, API),
    "unsubscribe_self": (PAGE, API),
    "unsubscribe_other": (PAGE, API),
    "view_departments": (PAGE, API),
    "add_department": (PAGE, API),
    "rename_department": (PAGE,),
    "delete_department": (PAGE,),
    "add_category": (PAGE, API),
    "rename_category": (PAGE,),
    "delete_category": (PAGE,),
    "view_users": (PAGE, API),
    "view_user": (PAGE, API),
    "admin_home": (PAGE,),
    "admin_config": (PAGE,),
    "admin_add_user": (PAGE,),
    "admin_edit_user": (PAGE,),
    "admin_delete_user": (PAGE,),
    "admin_add_group": (PAGE,),
}

#: Site settings (``flicket_config``) an action's row assumes.
CONFIG_FOR = {
    "change_category_off": {"change_category": False},
    "change_category_everyone": {
        "change_category": True,
        "change_category_only_admin_or_super_user": False,
    },
    "change_category_admin": {
        "change_category": True,
        "change_category_only_admin_or_super_user": True,
    },
}

#: Actions that only read: "ok" means 200 and nothing changed.
READ_ONLY = {"view_ticket", "view_departments", "view_users", "view_user", "admin_home"}


def parse_table(text):
    """[(row name, column name, cell)] of a whitespace table (``#`` lines are comments)."""
    lines = [
        line.split()
        for line in text.strip().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    header, body = lines[0][1:], lines[1:]
    return [
        (row[0], column, cell)
        for row in body
        for column, cell in zip(header, row[1:], strict=True)
    ]


POLICY = {(action, actor): outcome for action, actor, outcome in parse_table(POLICY_TABLE)}
ACTIONS = tuple(dict.fromkeys(action for action, _actor in POLICY))


def outcome(action, actor):
    return POLICY[(action, actor)]


def allowed(action, actor):
    return outcome(action, actor) == "ok"


def cases(channel):
    """(action, actor, outcome) for every cell of the table reachable through ``channel``."""
    return [
        (action, actor, POLICY[(action, actor)])
        for action in ACTIONS
        if channel in CHANNELS[action]
        for actor in ACTORS
    ]
