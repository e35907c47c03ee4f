"""Attachment storage: checked, size-limited files under random names in a folder outside
every static path, deleted only after the transaction that removed their rows commits."""

import logging
import mimetypes
import os
import secrets
import unicodedata
from pathlib import Path

from flicket.i18n import _, english
from flicket.transactions import when_done

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
#: Only the application's own user may read the files or list the folder (SECURITY-TESTS UP-9).
FILE_MODE = 0o600
DIRECTORY_MODE = 0o700
#: Types a browser would run or render as a page are always sent as plain bytes.
ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "text/javascript",
    "application/javascript",
    "text/xml",
    "application/xml",
}


class UploadError(ValueError):
    """A file was refused; ``message`` says why (in words for the person uploading: a
    TranslationString, shown with ``translate``)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message

    def __str__(self):
        return english(self.message)


def allowed_extensions(config):
    text = (config.allowed_extensions if config else "") or ""
    return sorted({e.strip().lower().lstrip(".") for e in text.split(",") if e.strip()})


def clean_original_name(name):
    """The name shown to people: no folders, no control or direction characters, <= 128."""
    name = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().strip(".") or "file"
    if len(name) > 128:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 127 - len(ext)] + dot + ext) if dot and len(ext) < 16 else name[:128]
    return name


def extension_of(name):
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def content_type_for(name):
    guessed, _ = mimetypes.guess_type("x." + extension_of(name))
    if not guessed or guessed in ACTIVE_TYPES:
        return "application/octet-stream"
    return guessed


class UploadStorage:
    def __init__(self, directory, max_size):
        self.directory = Path(directory)
        self.max_size = max_size

    def path_of(self, stored_name):
        # Stored names are ours (random hex + extension); refuse anything else outright.
        if not stored_name or "/" in stored_name or "\\" in stored_name or stored_name[0] == ".":
            raise FileNotFoundError(stored_name)
        return self.directory / stored_name

    def check(self, field_storages, config):
        """Check every file before anything is saved; raise UploadError for the first bad one."""
        allowed = allowed_extensions(config)
        for item in field_storages:
            name = clean_original_name(item.filename)
            if extension_of(name) not in allowed:
                raise UploadError(
                    _(
                        "${name} cannot be attached. Allowed file types: ${types}.",
                        mapping={"name": repr(name), "types": ", ".join(allowed)},
                    )
                )

    def save(self, item, transaction_manager=None):
        """Write one upload; returns (stored name, original name). Removed again on abort."""
        original = clean_original_name(item.filename)
        stored = f"{secrets.token_hex(16)}.{extension_of(original)}"
        self.directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        path = self.directory / stored
        size = 0
        source = item.file
        source.seek(0)
        # Created with its final mode (O_EXCL: never an existing file), whatever the umask.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with open(descriptor, "wb") as target:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_size:
                        limit = self.max_size // (1024 * 1024) or 1
                        raise UploadError(
                            _(
                                "${name} is larger than ${limit} MB.",
                                mapping={"name": repr(original), "limit": limit},
                            )
                        )
                    target.write(chunk)
        except BaseException:  # too large, disk full, interrupted: no partial file stays
            path.unlink(missing_ok=True)
            raise
        # A file written by a request that then failed (an exception, or a form refused
        # after this file was written) belongs to no row: remove it.
        when_done(transaction_manager, aborted=lambda: path.unlink(missing_ok=True))
        return stored, original

    def delete_after_commit(self, stored_names, transaction_manager=None):
        names = list(stored_names)
        when_done(transaction_manager, committed=lambda: self._delete(names))

    def _delete(self, stored_names):
        for name in stored_names:
            try:
                self.path_of(name).unlink(missing_ok=True)
            except OSError:
                log.warning("could not delete upload %r", name, exc_info=True)


def get_upload_storage(request):
    return request.registry["upload_storage"]


def includeme(config):
    settings = config.get_settings()
    directory = settings.get("flicket.upload_dir") or os.path.join(
        settings["flicket.data_dir"], "uploads"
    )
    config.registry["upload_storage"] = UploadStorage(
        directory, settings["flicket.upload.max_size"]
    )
    config.add_request_method(get_upload_storage, "uploads", reify=True)
