"""Compile translation catalogues (``.po`` to ``.mo``).

Imports nothing but Babel, so ``setup.py`` can run it while building the package, before
any of Flicket's dependencies are installed.
"""

import logging
import os

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

log = logging.getLogger(__name__)


def compile_catalogues(directory):
    """Compile every ``<language>/LC_MESSAGES/<domain>.po`` under ``directory`` whose
    ``.mo`` is missing or older; return the paths written.

    A built wheel ships compiled catalogues (``setup.py`` calls this); at start-up it keeps
    a source checkout's catalogues current after a translator edits a ``.po`` file.
    """
    written = []
    languages = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
    for language in languages:
        messages_dir = os.path.join(directory, language, "LC_MESSAGES")
        if not os.path.isdir(messages_dir):
            continue
        for name in sorted(os.listdir(messages_dir)):
            if not name.endswith(".po"):
                continue
            po_path = os.path.join(messages_dir, name)
            mo_path = po_path[:-3] + ".mo"
            if os.path.exists(mo_path) and os.path.getmtime(mo_path) >= os.path.getmtime(po_path):
                continue
            with open(po_path, "rb") as po_file:
                catalog = read_po(po_file, locale=language, domain=name[:-3])
            try:
                with open(mo_path, "wb") as mo_file:
                    write_mo(mo_file, catalog)
            except OSError:
                log.warning("could not compile %s: %s is out of date", po_path, mo_path)
                continue
            written.append(mo_path)
    return written
