from tests.conftest import login


def test_admin_logs_in_and_sees_home(testapp, users):
    response = login(testapp, "admin").follow()
    assert "Welcome, Admin Example" in response.text
    assert response.status_int == 200
