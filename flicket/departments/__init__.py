"""Departments and categories: the service (``request.departments``) and the pages."""


def includeme(config):
    from flicket.departments.services import get_department_service

    config.add_request_method(get_department_service, "departments", reify=True)
    config.scan()
