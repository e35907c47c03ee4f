"""Avatar images: checked by their content, stored under random names in
``<flicket.data_dir>/avatars`` (outside every static path) and served by a view.

Only PNG, JPEG, GIF and WebP are accepted, recognised by their first bytes (never by the
file name), at most 1 MB, and never anything that also reads as a web page. The stored
name is random and carries the extension of the detected type, so the type a file is
served with is always one of the four image types.
"""

import logging
import os
import re
import secrets
from functools import cache
from importlib import resources
from pathlib import Path

from flicket.i18n import _, english
from flicket.transactions import when_done

log = logging.getLogger(__name__)

MAX_AVATAR_SIZE = 1024 * 1024
CHUNK = 64 * 1024
#: Flicket's default image name, served from the package.
DEFAULT_AVATAR = "__default_profile.png"
#: Extension of the stored file → the only content types avatars are ever served with.
IMAGE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
}
STORED_NAME_RE = re.compile(r"^[0-9a-f]{32}\.(png|jpg|gif|webp)$")
#: Markup that must never be inside an image (a polyglot a browser could run as a page).
ACTIVE_MARKERS = (b"<script", b"<html", b"<svg", b"<!doctype", b"<iframe", b"<body", b"<?xml")


class AvatarError(ValueError):
    """The image was refused; ``message`` says why, in words for the person uploading (a
    message to translate; ``str(error)`` is the English text)."""

    def __init__(self, message):
        super().__init__(english(message))
        self.message = message


def sniff_image(data):
    """The extension of the image type ``data`` really is ("png", "jpg", ...), or None."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return "png"
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) > 13:
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def check_image(data):
    """The detected extension of ``data``; raises AvatarError for anything but an image."""
    if not data:
        raise AvatarError(_("The file is empty."))
    kind = sniff_image(data)
    if kind is None:
        raise AvatarError(
            _("The avatar must be a PNG, JPEG, GIF or WebP image (the file's content is not).")
        )
    lowered = data.lower()
    if any(marker in lowered for marker in ACTIVE_MARKERS):
        raise AvatarError(_("The avatar file contains web page code; choose a plain image."))
    return kind


def read_upload(item, max_size=MAX_AVATAR_SIZE):
    """The bytes of an uploaded file (a WebOb FieldStorage), refusing more than ``max_size``."""
    source = item.file
    source.seek(0)
    chunks, size = [], 0
    while chunk := source.read(CHUNK):
        size += len(chunk)
        if size > max_size:
            limit = f"{max_size / (1024 * 1024):g}"
            raise AvatarError(
                _("The avatar is too large: at most ${size} MB.", mapping={"size": limit})
            )
        chunks.append(chunk)
    return b"".join(chunks)


def is_stored_name(name):
    return bool(name) and STORED_NAME_RE.match(name) is not None


class AvatarStorage:
    def __init__(self, directory, max_size=MAX_AVATAR_SIZE):
        self.directory = Path(directory)
        self.max_size = max_size

    def path_of(self, stored_name):
        """The file of one of our stored names; FileNotFoundError for any other name."""
        if not is_stored_name(stored_name):
            raise FileNotFoundError(stored_name)
        path = self.directory / stored_name
        if not path.is_file():
            raise FileNotFoundError(stored_name)
        return path

    def save(self, data, kind, transaction_manager=None):
        """Write checked image bytes under a new random name; removed again on abort."""
        if kind not in IMAGE_TYPES:
            raise AvatarError(_("Unknown image type."))
        self.directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        stored = f"{secrets.token_hex(16)}.{kind}"
        path = self.directory / stored
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(fd, "wb") as target:
            target.write(data)
        # A file written by a request that then failed belongs to nobody: remove it.
        when_done(transaction_manager, aborted=lambda: path.unlink(missing_ok=True))
        return stored

    def delete_after_commit(self, stored_name, transaction_manager=None):
        """Remove a replaced avatar once the change is committed (Flicket's own old names
        and the default image are left alone)."""
        if not is_stored_name(stored_name):
            return
        path = self.directory / stored_name
        when_done(transaction_manager, committed=lambda: self._delete(path))

    @staticmethod
    def _delete(path):
        try:
            path.unlink(missing_ok=True)
        except OSError:
            log.warning("could not delete avatar %r", path.name, exc_info=True)


@cache
def default_avatar_bytes():
    return resources.files("flicket").joinpath("static/img", DEFAULT_AVATAR).read_bytes()


def avatar_directory(settings):
    return os.path.join(settings["flicket.data_dir"], "avatars")


def get_avatar_storage(request):
    registry = request.registry
    storage = registry.get("avatar_storage")
    if storage is None:
        storage = registry["avatar_storage"] = AvatarStorage(avatar_directory(registry.settings))
    return storage


def avatar_url(request, user):
    """The address of ``user``'s avatar, or of the default image."""
    name = user.avatar if user is not None and is_stored_name(user.avatar) else DEFAULT_AVATAR
    return request.route_path("avatar", filename=name)
