"""Departments and categories (reference §3.13): who may do what (checked on the server,
status and database both), name validation, delete rules with password confirmation,
404s, escaping and a fixed number of queries."""

from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from markupsafe import escape

from flicket.accounts.passwords import hash_password
from flicket.admin.models import Config
from flicket.departments.models import Category, Department
from flicket.departments.services import DepartmentError, DepartmentService
from flicket.tickets.models import Ticket
from tests import factories as f
from tests.conftest import (
    BCRYPT_TEST_ROUNDS,
    PASSWORD,
    assert_login_page,
    csrf_token_from,
    login,
)

XSS = (
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><svg onload=alert(1)>',
)


# -- helpers --------------------------------------------------------------------------------


def snapshot(dbsession):
    """Every department with its categories, read straight from the database."""
    departments = dbsession.execute(sa.select(Department.id, Department.department)).all()
    categories = dbsession.execute(
        sa.select(Category.id, Category.category, Category.department_id)
    ).all()
    return {
        (dep_id, name): sorted((c_id, c_name) for c_id, c_name, d in categories if d == dep_id)
        for dep_id, name in departments
    }


def department_names(dbsession):
    return sorted(dbsession.scalars(sa.select(Department.department)))


def category_names(dbsession, department_id):
    return sorted(
        dbsession.scalars(
            sa.select(Category.category).where(Category.department_id == department_id)
        )
    )


def token_of(app, logged_in=True):
    return csrf_token_from(app.get("/departments/" if logged_in else "/login"))


def post(app, url, data=None, status="*", logged_in=True):
    values = dict(data or {})
    values["csrf_token"] = token_of(app, logged_in)
    return app.post(url, values, status=status)


def flashes_after(response):
    assert response.status_int == 302, response.status
    return response.follow().text


def set_config(dbsession, **values):
    config = dbsession.scalars(sa.select(Config).order_by(Config.id).limit(1)).one()
    for name, value in values.items():
        setattr(config, name, value)
    dbsession.flush()


@pytest.fixture
def arranged(dbsession, users):
    """Facilities (Lighting: used by a ticket; Unused: free) and an empty department."""
    facilities = Department(department="Facilities")
    empty = Department(department="Empty Dept")
    dbsession.add_all([facilities, empty])
    dbsession.flush()
    lighting = Category(category="Lighting", department=facilities)
    unused = Category(category="Unused", department=facilities)
    dbsession.add_all([lighting, unused])
    dbsession.flush()
    ticket = f.make_ticket(
        dbsession, users["alice"], "Lamp broken", department="Facilities", category_name="Lighting"
    )
    return {
        "facilities": facilities.id,
        "empty": empty.id,
        "lighting": lighting.id,
        "unused": unused.id,
        "ticket": ticket.id,
    }


# -- who may do what: every route and method, for every role ---------------------------------

ROLES = ("admin", "super", "alice", "dave", "anonymous")
MANAGERS = ("admin", "super")


def _has_department(name):
    return lambda before, after: (
        any(n == name for _, n in after) and not any(n == name for _, n in before)
    )


def _renamed_department(ids, new):
    return lambda before, after: (
        (ids["empty"], new) in after
        and (
            ids["empty"],
            "Empty Dept",
        )
        not in after
    )


def _department_gone(ids):
    return lambda before, after: (
        all(d != ids["empty"] for d, _ in after) and len(after) == len(before) - 1
    )


def _category_names(state, department_id):
    return [name for (d, _), cats in state.items() if d == department_id for _, name in cats]


# name: (method, url(ids), form data or None, change check(ids) or None for read-only pages)
ACTIONS = {
    "list": ("GET", lambda i: "/departments/", None, None),
    "list page 2": ("GET", lambda i: "/departments/2/", None, None),
    "add department": (
        "POST",
        lambda i: "/departments/",
        {"department": "Brand New Dept"},
        lambda i: _has_department("Brand New Dept"),
    ),
    "edit department page": ("GET", lambda i: f"/department_edit/{i['empty']}/", None, None),
    "edit department": (
        "POST",
        lambda i: f"/department_edit/{i['empty']}/",
        {"department": "Renamed Dept"},
        lambda i: _renamed_department(i, "Renamed Dept"),
    ),
    "delete department page": ("GET", lambda i: f"/delete/department/{i['empty']}/", None, None),
    "delete department": (
        "POST",
        lambda i: f"/delete/department/{i['empty']}/",
        {"password": PASSWORD},
        _department_gone,
    ),
    "categories": ("GET", lambda i: f"/categories/{i['facilities']}/", None, None),
    "add category": (
        "POST",
        lambda i: f"/categories/{i['facilities']}/",
        {"category": "New Cat"},
        lambda i: (
            lambda before, after: (
                "New Cat" in _category_names(after, i["facilities"])
                and "New Cat" not in _category_names(before, i["facilities"])
            )
        ),
    ),
    "edit category page": ("GET", lambda i: f"/category_edit/{i['unused']}/", None, None),
    "edit category": (
        "POST",
        lambda i: f"/category_edit/{i['unused']}/",
        {"category": "Renamed Cat"},
        lambda i: (
            lambda before, after: (
                "Renamed Cat" in _category_names(after, i["facilities"])
                and "Unused" not in _category_names(after, i["facilities"])
            )
        ),
    ),
    "delete category page": ("GET", lambda i: f"/delete/category/{i['unused']}/", None, None),
    "delete category": (
        "POST",
        lambda i: f"/delete/category/{i['unused']}/",
        {"password": PASSWORD},
        lambda i: (
            lambda before, after: (
                "Unused" not in _category_names(after, i["facilities"])
                and "Lighting" in _category_names(after, i["facilities"])
            )
        ),
    ),
}
#: What an ordinary user may see (the lists, read-only).
EVERYONE_MAY = {"list", "list page 2", "categories"}


def client_for(role, testapp):
    if role == "anonymous":
        return testapp
    if role == "dave":
        response = login(testapp, "dave", status=200)
        assert "Invalid username, email or password." in response.text
        return testapp
    login(testapp, role)
    return testapp


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("role", ROLES)
def test_role_action_table(testapp, dbsession, arranged, role, action):
    method, url_of, data, change_of = ACTIONS[action]
    app = client_for(role, testapp)
    logged_in = role in ("admin", "super", "alice")
    url = url_of(arranged)
    before = snapshot(dbsession)
    if method == "GET":
        response = app.get(url, status="*")
    else:
        response = post(app, url, data, logged_in=logged_in)
    after = snapshot(dbsession)

    if not logged_in:
        assert_login_page(response)
        assert after == before
    elif role in MANAGERS:
        if method == "GET":
            assert response.status_int == 200
            assert after == before
        else:
            assert response.status_int == 302, response.text
            assert change_of(arranged)(before, after), (before, after)
    elif action in EVERYONE_MAY:
        assert response.status_int == 200
        assert after == before
    else:
        assert response.status_int == 403
        assert after == before


def test_list_shows_every_department_with_its_categories_sorted(login_as, arranged):
    page = login_as("alice").get("/departments/")
    names = [h.get_text(strip=True) for h in page.html.select(".department-name")]
    assert names == sorted(names, key=str.lower)
    assert {"Facilities", "Empty Dept", "IT", "Design"} <= set(names)
    row = page.html.select_one(f"#department-{arranged['facilities']}")
    assert [c.get_text(strip=True) for c in row.select(".category-name")] == ["Lighting", "Unused"]
    empty_row = page.html.select_one(f"#department-{arranged['empty']}")
    assert "No categories yet." in empty_row.get_text()


def test_ordinary_user_sees_read_only_lists_and_the_intro(login_as, arranged):
    app = login_as("alice")
    page = app.get("/departments/")
    assert "raise a ticket" in page.text
    assert not page.html.select("form.add-department-form")
    assert not page.html.select(".department-edit, .department-delete, .category-edit")
    assert not page.html.select(".category-delete")
    categories = app.get(f"/categories/{arranged['facilities']}/")
    assert not categories.html.select("form.add-category-form")
    assert not categories.html.select(".category-edit, .category-delete")
    assert [n.get_text(strip=True) for n in categories.html.select(".category-name")] == [
        "Lighting",
        "Unused",
    ]


@pytest.mark.parametrize("role", MANAGERS)
def test_managers_see_forms_and_icons(login_as, arranged, role):
    app = login_as(role)
    page = app.get("/departments/")
    assert page.html.select_one("form.add-department-form input[name=department]")
    row = page.html.select_one(f"#department-{arranged['facilities']}")
    assert row.select_one(".department-edit")["href"] == (
        f"/department_edit/{arranged['facilities']}/"
    )
    assert row.select_one(".department-delete")["href"] == (
        f"/delete/department/{arranged['facilities']}/"
    )
    assert row.select_one(".department-categories")["href"] == (
        f"/categories/{arranged['facilities']}/"
    )
    hrefs = [a["href"] for a in row.select(".category-edit, .category-delete")]
    assert f"/category_edit/{arranged['unused']}/" in hrefs
    assert f"/delete/category/{arranged['unused']}/" in hrefs
    categories = app.get(f"/categories/{arranged['facilities']}/")
    assert categories.html.select_one("form.add-category-form input[name=category]")
    used = categories.html.select_one(f"#category-{arranged['lighting']} .category-tickets")
    assert used.get_text(strip=True) == "1 ticket"


def test_post_without_csrf_token_changes_nothing(login_as, dbsession, arranged):
    app = login_as("admin")
    before = snapshot(dbsession)
    app.post("/departments/", {"department": "No Token Dept"}, status=400)
    app.post(f"/delete/department/{arranged['empty']}/", {"password": PASSWORD}, status=400)
    assert snapshot(dbsession) == before


def test_other_methods_are_not_routed(login_as, dbsession, arranged):
    app = login_as("admin")
    before = snapshot(dbsession)
    app.put(f"/department_edit/{arranged['empty']}/", status=404)
    assert snapshot(dbsession) == before


# -- not found --------------------------------------------------------------------------------

ID_ROUTES = (
    "/department_edit/{}/",
    "/delete/department/{}/",
    "/categories/{}/",
    "/category_edit/{}/",
    "/delete/category/{}/",
)


@pytest.mark.parametrize("template", ID_ROUTES)
@pytest.mark.parametrize("bad_id", ["999999", "abc", "%C2%B2", "1" * 40, "-1"])
def test_unknown_ids_are_404(login_as, template, bad_id):
    app = login_as("admin")
    app.get(template.format(bad_id), status=404)
    post(app, template.format(bad_id), {"password": PASSWORD, "category": "Xyz"}, status=404)


def test_categories_of_unknown_department_is_404_for_everyone(login_as, users):
    login_as("alice").get("/categories/999999/", status=404)


def test_bad_page_numbers_do_not_fail(login_as, arranged):
    app = login_as("alice")
    assert app.get("/departments/999999/").status_int == 200
    assert app.get("/departments/?page=abc").status_int == 200
    assert app.get("/departments/?page=-3").status_int == 200


def test_pagination_follows_posts_per_page(login_as, dbsession, arranged):
    set_config(dbsession, posts_per_page=3)
    app = login_as("alice")
    total = dbsession.scalar(sa.select(sa.func.count(Department.id)))
    first = app.get("/departments/")
    assert len(first.html.select(".department-row")) == 3
    assert first.html.select_one('a[href="/departments/2/"]')
    seen = []
    for page in range(1, -(-total // 3) + 1):
        response = app.get(f"/departments/{page}/")
        seen += [h.get_text(strip=True) for h in response.html.select(".department-name")]
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen, key=str.lower)


# -- validation ------------------------------------------------------------------------------


def add_department(app, name, status="*"):
    return post(app, "/departments/", {"department": name}, status=status)


@pytest.mark.parametrize(
    "name",
    ["ab", "x" * 31, "", "   ", "  ab  ", "bad\x01name"],
    ids=["2 chars", "31 chars", "empty", "blank", "2 chars padded", "control char"],
)
def test_add_department_rejects_bad_lengths(login_as, dbsession, arranged, name):
    app = login_as("admin")
    before = snapshot(dbsession)
    response = add_department(app, name)
    assert response.status_int == 400
    assert response.html.select_one(".invalid-feedback")
    assert snapshot(dbsession) == before


@pytest.mark.parametrize("name", ["abc", "y" * 30, "  Padded Name  "])
def test_add_department_accepts_3_to_30_characters_trimmed(login_as, dbsession, arranged, name):
    app = login_as("super")
    response = add_department(app, name)
    assert response.status_int == 302
    assert urlsplit(response.location).path == "/departments/"
    assert name.strip() in department_names(dbsession)
    assert "added" in response.follow().text


@pytest.mark.parametrize(
    "name", ["Facilities", "facilities", "  FACILITIES  ", "DESIGN", " dEsign "]
)
def test_add_department_rejects_duplicates_case_insensitively(login_as, dbsession, arranged, name):
    app = login_as("admin")
    before = snapshot(dbsession)
    response = add_department(app, name)
    assert response.status_int == 400
    assert "There is already a department named" in response.text
    assert snapshot(dbsession) == before


def rename_department(app, department_id, name):
    return post(app, f"/department_edit/{department_id}/", {"department": name})


def test_rename_department_to_the_same_name_is_fine(login_as, dbsession, arranged):
    app = login_as("admin")
    response = rename_department(app, arranged["facilities"], "Facilities")
    assert response.status_int == 302
    assert "Facilities" in department_names(dbsession)
    response = rename_department(app, arranged["facilities"], " FACILITIES ")
    assert response.status_int == 302
    assert "FACILITIES" in department_names(dbsession)
    assert "is now called" in response.follow().text


def test_saving_a_seeded_short_name_unchanged_is_fine(login_as, dbsession, users):
    """The seeded "IT" is shorter than today's limit: saving it as it is still works."""
    it_id = dbsession.scalar(sa.select(Department.id).where(Department.department == "IT"))
    app = login_as("admin")
    assert rename_department(app, it_id, "IT").status_int == 302
    assert "IT" in department_names(dbsession)
    response = rename_department(app, it_id, "it")
    assert response.status_int == 400
    assert "3 to 30 characters" in response.text


@pytest.mark.parametrize("name", ["ab", "z" * 31, "design", " DESIGN ", "empty dept"])
def test_rename_department_validation(login_as, dbsession, arranged, name):
    app = login_as("super")
    before = snapshot(dbsession)
    response = rename_department(app, arranged["facilities"], name)
    assert response.status_int == 400
    assert response.html.select_one(".invalid-feedback")
    assert snapshot(dbsession) == before


def test_rename_department_page_is_prefilled(login_as, arranged):
    page = login_as("admin").get(f"/department_edit/{arranged['facilities']}/")
    assert page.html.select_one("input[name=department]")["value"] == "Facilities"
    assert page.html.select_one("input[name=department]")["maxlength"] == "30"


def add_category(app, department_id, name):
    return post(app, f"/categories/{department_id}/", {"category": name})


@pytest.mark.parametrize("name", ["ab", "q" * 31, "", "   "])
def test_add_category_rejects_bad_lengths(login_as, dbsession, arranged, name):
    app = login_as("admin")
    before = snapshot(dbsession)
    response = add_category(app, arranged["facilities"], name)
    assert response.status_int == 400
    assert response.html.select_one(".invalid-feedback")
    assert snapshot(dbsession) == before


@pytest.mark.parametrize("name", ["Lighting", "lighting", "  LIGHTING "])
def test_add_category_rejects_duplicates_in_the_department(login_as, dbsession, arranged, name):
    app = login_as("admin")
    before = snapshot(dbsession)
    response = add_category(app, arranged["facilities"], name)
    assert response.status_int == 400
    assert "already has a category named" in response.text
    assert snapshot(dbsession) == before


def test_same_category_name_in_another_department_is_fine(login_as, dbsession, arranged):
    app = login_as("super")
    response = add_category(app, arranged["facilities"], "other")  # IT has "Other"
    assert response.status_int == 302
    assert urlsplit(response.location).path == f"/categories/{arranged['facilities']}/"
    assert category_names(dbsession, arranged["facilities"]) == ["Lighting", "Unused", "other"]
    response = add_category(app, arranged["empty"], "Lighting")
    assert response.status_int == 302
    assert category_names(dbsession, arranged["empty"]) == ["Lighting"]


@pytest.mark.parametrize("name", ["abc", "w" * 30])
def test_add_category_accepts_3_to_30_characters(login_as, dbsession, arranged, name):
    response = add_category(login_as("admin"), arranged["empty"], name)
    assert response.status_int == 302
    assert category_names(dbsession, arranged["empty"]) == [name]


def rename_category(app, category_id, name):
    return post(app, f"/category_edit/{category_id}/", {"category": name})


def test_rename_category_same_name_and_case_change_are_fine(login_as, dbsession, arranged):
    app = login_as("admin")
    assert rename_category(app, arranged["unused"], "Unused").status_int == 302
    assert rename_category(app, arranged["unused"], "UNUSED ").status_int == 302
    assert category_names(dbsession, arranged["facilities"]) == ["Lighting", "UNUSED"]


@pytest.mark.parametrize("name", ["ab", "v" * 31, "lighting", " LIGHTING"])
def test_rename_category_validation(login_as, dbsession, arranged, name):
    app = login_as("admin")
    before = snapshot(dbsession)
    response = rename_category(app, arranged["unused"], name)
    assert response.status_int == 400
    assert response.html.select_one(".invalid-feedback")
    assert snapshot(dbsession) == before


def test_rename_category_to_a_name_used_in_another_department(login_as, dbsession, arranged):
    response = rename_category(login_as("super"), arranged["unused"], "Other")
    assert response.status_int == 302
    assert category_names(dbsession, arranged["facilities"]) == ["Lighting", "Other"]


# -- the service on its own (the API will reuse it) ---------------------------------------------


def test_service_applies_the_same_rules(dbsession, arranged):
    service = DepartmentService(dbsession)
    for bad in ("ab", "x" * 31, None, "  ", "tab\tname"):
        with pytest.raises(DepartmentError):
            service.add_department(bad)
    with pytest.raises(DepartmentError, match="already a department"):
        service.add_department(" facilities")
    created = service.add_department("  Logistics ")
    assert created.department == "Logistics"
    facilities = service.department(arranged["facilities"])
    with pytest.raises(DepartmentError, match="already has a category"):
        service.add_category(facilities, "UNUSED")
    assert service.add_category(created, "Unused").category == "Unused"
    with pytest.raises(DepartmentError, match="still has 2 categories"):
        service.delete_department(facilities)
    with pytest.raises(DepartmentError, match="used by 1 ticket"):
        service.delete_category(service.category(arranged["lighting"]))
    assert dbsession.get(Category, arranged["lighting"]) is not None


# -- delete rules and password confirmation --------------------------------------------------


def test_delete_department_with_categories_is_refused(login_as, dbsession, arranged):
    app = login_as("admin")
    page = app.get(f"/delete/department/{arranged['facilities']}/")
    assert "still has 2 categories" in page.html.select_one(".delete-problem").text
    assert not page.html.select("input[name=password]")
    before = snapshot(dbsession)
    response = post(app, f"/delete/department/{arranged['facilities']}/", {"password": PASSWORD})
    assert response.status_int == 302
    assert "still has 2 categories" in response.follow().text
    assert snapshot(dbsession) == before


def test_delete_category_used_by_a_ticket_is_refused(login_as, dbsession, arranged):
    app = login_as("super")
    page = app.get(f"/delete/category/{arranged['lighting']}/")
    assert "used by 1 ticket" in page.html.select_one(".delete-problem").text
    before = snapshot(dbsession)
    response = post(app, f"/delete/category/{arranged['lighting']}/", {"password": PASSWORD})
    assert response.status_int == 302
    assert "used by 1 ticket" in response.follow().text
    assert snapshot(dbsession) == before


def test_delete_category_page_names_category_and_department(login_as, arranged):
    page = login_as("admin").get(f"/delete/category/{arranged['unused']}/")
    target = page.html.select_one(".delete-target")
    assert target.select_one(".category-name").get_text(strip=True) == "Unused"
    assert target.select_one(".department-name").get_text(strip=True) == "Facilities"
    assert page.html.select_one("input[name=password][type=password]")


@pytest.mark.parametrize("password", ["not my password", ""])
@pytest.mark.parametrize("what", ["department", "category"])
def test_delete_with_wrong_password_is_400_and_deletes_nothing(
    login_as, dbsession, arranged, password, what
):
    app = login_as("admin")
    target = arranged["empty"] if what == "department" else arranged["unused"]
    before = snapshot(dbsession)
    response = post(app, f"/delete/{what}/{target}/", {"password": password})
    assert response.status_int == 400
    assert response.html.select_one(".invalid-feedback")
    assert snapshot(dbsession) == before


def test_delete_asks_for_the_users_own_password(login_as, dbsession, users, arranged):
    """The super user's own password works; another user's password does not."""
    users["admin"].password = hash_password("the admin's own password", BCRYPT_TEST_ROUNDS)
    dbsession.flush()
    app = login_as("super")
    before = snapshot(dbsession)
    response = post(
        app, f"/delete/category/{arranged['unused']}/", {"password": "the admin's own password"}
    )
    assert response.status_int == 400
    assert snapshot(dbsession) == before
    response = post(app, f"/delete/category/{arranged['unused']}/", {"password": PASSWORD})
    assert response.status_int == 302
    assert urlsplit(response.location).path == f"/categories/{arranged['facilities']}/"
    assert "deleted" in response.follow().text
    assert category_names(dbsession, arranged["facilities"]) == ["Lighting"]


def test_delete_empty_department_after_its_categories(login_as, dbsession, arranged, users):
    app = login_as("admin")
    response = post(app, f"/delete/department/{arranged['empty']}/", {"password": PASSWORD})
    assert response.status_int == 302
    assert urlsplit(response.location).path == "/departments/"
    assert "Empty Dept" not in department_names(dbsession)
    # Once the ticket moves elsewhere, Lighting and then Facilities can go too.
    dbsession.execute(
        sa.update(Ticket)
        .where(Ticket.id == arranged["ticket"])
        .values(category_id=f.category(dbsession).id)
    )
    dbsession.flush()
    for category_id in (arranged["lighting"], arranged["unused"]):
        response = post(app, f"/delete/category/{category_id}/", {"password": PASSWORD})
        assert response.status_int == 302
    response = post(app, f"/delete/department/{arranged['facilities']}/", {"password": PASSWORD})
    assert response.status_int == 302
    assert "Facilities" not in department_names(dbsession)


# -- escaping -------------------------------------------------------------------------------


def assert_escaped(response, payload):
    assert response.status_int == 200
    assert payload not in response.text
    assert str(escape(payload)) in response.text


@pytest.mark.parametrize("payload", XSS)
def test_names_are_escaped_on_every_page(login_as, make_client, dbsession, users, payload):
    app = login_as("admin")
    assert len(payload) <= 30
    response = add_department(app, payload)
    assert response.status_int == 302
    assert_escaped(response.follow(), payload)  # the list, and the success message
    department_id = dbsession.scalar(
        sa.select(Department.id).where(Department.department == payload)
    )
    response = add_category(app, department_id, payload)
    assert response.status_int == 302
    assert_escaped(response.follow(), payload)
    category_id = dbsession.scalar(sa.select(Category.id).where(Category.category == payload))
    for url in (
        "/departments/",
        f"/categories/{department_id}/",
        f"/department_edit/{department_id}/",
        f"/category_edit/{category_id}/",
        f"/delete/department/{department_id}/",
        f"/delete/category/{category_id}/",
    ):
        assert_escaped(app.get(url), payload)
    # The duplicate-name error repeats the name: escaped too.
    duplicate = add_department(app, payload)
    assert duplicate.status_int == 400
    assert payload not in duplicate.text
    assert f"There is already a department named “{escape(payload)}”" in duplicate.text
    # And an ordinary user's read-only pages.
    alice = make_client()
    login(alice, "alice")
    assert_escaped(alice.get("/departments/"), payload)
    assert_escaped(alice.get(f"/categories/{department_id}/"), payload)


# -- a fixed number of queries ----------------------------------------------------------------


def make_departments(dbsession, count, start=0):
    for n in range(start, start + count):
        department = Department(department=f"Dept {n:03d}")
        dbsession.add(department)
        dbsession.add_all(
            [Category(category=f"Cat {n}-{k}", department=department) for k in range(2)]
        )
    dbsession.flush()


def queries_for(app, count_queries, url):
    with count_queries() as counter:
        response = app.get(url)
    assert response.status_int == 200
    return counter.count, len(response.html.select(".department-row"))


def test_departments_page_query_count_is_fixed(login_as, dbsession, count_queries):
    set_config(dbsession, posts_per_page=100)
    app = login_as("super")
    make_departments(dbsession, 5)
    app.get("/departments/")  # warm-up
    few, shown_few = queries_for(app, count_queries, "/departments/")
    make_departments(dbsession, 35, start=5)
    many, shown_many = queries_for(app, count_queries, "/departments/")
    assert shown_many == shown_few + 35
    assert few == many


def test_categories_page_query_count_is_fixed(login_as, dbsession, count_queries, users):
    department = Department(department="Many Cats")
    dbsession.add(department)
    dbsession.add_all([Category(category=f"Cat {k}", department=department) for k in range(5)])
    dbsession.flush()
    app = login_as("admin")
    url = f"/categories/{department.id}/"
    app.get(url)
    with count_queries() as counter:
        few_page = app.get(url)
    dbsession.add_all([Category(category=f"Cat {k}", department=department) for k in range(5, 40)])
    dbsession.flush()
    with count_queries() as counter_many:
        many_page = app.get(url)
    assert len(few_page.html.select(".category-item")) == 5
    assert len(many_page.html.select(".category-item")) == 40
    assert counter.count == counter_many.count
