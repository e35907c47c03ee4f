"""Packaging for Flicket, a simple ticketing system on Pyramid."""

import importlib.util
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, "README.rst"), encoding="utf-8") as f:
    README = f.read()
with open(os.path.join(here, "CHANGES.rst"), encoding="utf-8") as f:
    CHANGES = f.read()

requires = [
    "pyramid>=2.0,<3",
    "pyramid_jinja2>=2.10",
    "pyramid_tm>=2.5",
    "pyramid_retry>=2.1",
    "pyramid_mailer>=0.15",
    "repoze.sendmail>=4.4",
    "transaction>=4",
    "zope.sqlalchemy>=3.1",
    "SQLAlchemy>=2.0,<2.2",
    "alembic>=1.13",
    "bcrypt>=4.1",
    "Markdown>=3.5",
    "nh3>=0.2.17",
    "Babel>=2.12",
    "WTForms>=3.1",
    "email-validator>=2.1",
    "cryptography>=42",
    "PyMySQL>=1.1.1",
    "psycopg[binary]>=3.1",
    "waitress>=3.0",
    "plaster_pastedeploy",
    # Pyramid 2.1 imports pkg_resources, which setuptools 81 and later no longer ship.
    "setuptools<81",
]

#: For flicket.ratelimit.store = redis (pip install "flicket[redis]").
redis_require = ["redis>=5.0"]

tests_require = [
    *redis_require,
    "WebTest>=3.0",
    "pytest>=8",
    "ruff",
    "jsonschema>=4.18",
    "schemathesis>=4.0,<5",
    "aiosmtpd>=1.4.6",
    "hypothesis>=6.100",
    "bandit>=1.7",
    # The browser suite drives Debian's Chromium (never a downloaded browser).
    "playwright>=1.45",
]

class BuildWithCatalogues(build_py):
    """Compile the translation catalogues (flicket/locale/*/LC_MESSAGES/*.po) so the built
    package ships their .mo files."""

    def run(self):
        path = os.path.join(here, "flicket", "catalogues.py")
        spec = importlib.util.spec_from_file_location("flicket_catalogues", path)
        catalogues = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(catalogues)
        catalogues.compile_catalogues(os.path.join(here, "flicket", "locale"))
        super().run()


# The migrations live at the repository top level (alembic/, without __init__.py so it never
# hides the alembic library); flicket/migrations is a link to it, so they are installed as
# data inside the package and an installed wheel finds and runs them from any directory.
packages = find_packages(exclude=["tests", "tests.*"])

setup(
    name="flicket",
    version="0.4.0.dev0",
    description="Flicket: a simple, fast and secure ticketing system for internal desks",
    long_description=README + "\n\n" + CHANGES,
    long_description_content_type="text/x-rst",
    classifiers=[
        "Programming Language :: Python :: 3",
        "Framework :: Pyramid",
        "Topic :: Internet :: WWW/HTTP :: WSGI :: Application",
        "License :: OSI Approved :: MIT License",
    ],
    license="MIT",
    python_requires=">=3.11",
    packages=packages,
    include_package_data=True,
    package_data={
        "flicket": [
            "templates/**/*",
            "static/**/*",
            "locale/**/*",
            "data/*",
            "migrations/*",
            "migrations/versions/*.py",
        ],
    },
    zip_safe=False,
    cmdclass={"build_py": BuildWithCatalogues},
    extras_require={"testing": tests_require, "redis": redis_require},
    install_requires=requires,
    entry_points={
        "paste.app_factory": ["main = flicket:main"],
        "paste.server_runner": ["waitress = flicket.server:serve"],
        "console_scripts": [
            "flicket-setup = flicket.scripts.setup:main",
            "flicket-export-users = flicket.scripts.users:export_main",
            "flicket-import-users = flicket.scripts.users:import_main",
            "flicket-update-user-posts = flicket.scripts.counters:posts_main",
            "flicket-update-user-assigned = flicket.scripts.counters:assigned_main",
            "flicket-email-outstanding-tickets = flicket.scripts.outstanding:main",
            "flicket-populate = flicket.scripts.populate:main",
            "flicket-mail-queue = flicket.scripts.mailqueue:main",
        ],
    },
)
