"""Translations: one domain (``flicket``), English and French, chosen per request and per
e-mail recipient.

Python code marks text with ``_("...")`` (a Pyramid TranslationString, placeholders written
``${name}`` and filled from ``mapping``) and translates it where it meets a person: a flash
(``flash``), a form (``flicket.forms.BaseForm``), a page (the ``translate`` template global),
an e-mail (``localized``). Templates mark text with ``{% trans %}`` or ``_("...")`` (Jinja2's
new-style gettext, placeholders ``%(name)s``, values escaped). The JSON API stays English: it
is a contract with programs, and ``english`` fills in a message's placeholders for it.
"""

import contextlib
import contextvars
import datetime
import decimal
import functools
import logging
import os

from babel import Locale, dates, numbers
from pyramid.i18n import TranslationString, TranslationStringFactory, make_localizer
from pyramid.interfaces import ILocalizer, ITranslationDirectories
from pyramid.threadlocal import get_current_request
from sqlalchemy.exc import SQLAlchemyError

from flicket.catalogues import compile_catalogues

log = logging.getLogger(__name__)

DOMAIN = "flicket"
_ = TranslationStringFactory(DOMAIN)

DEFAULT_LOCALE = "en"
LOCALE_DIR = os.path.join(os.path.dirname(__file__), "locale")


def available_locales(directory=LOCALE_DIR):
    """English plus every language with a catalogue under ``directory``, by locale name,
    each named in its own language: adding a catalogue adds the language (README)."""
    names = {DEFAULT_LOCALE}
    if os.path.isdir(directory):
        for name in os.listdir(directory):
            messages = os.path.join(directory, name, "LC_MESSAGES", DOMAIN)
            if os.path.exists(messages + ".po") or os.path.exists(messages + ".mo"):
                names.add(name)
    return {name: Locale.parse(name).get_display_name(name).capitalize() for name in sorted(names)}


#: The languages a person can choose: {"en": "English", "fr": "Français"}.
LOCALES = available_locales()

#: Names the seeded database rows carry (statuses and priorities; reference §2). They are
#: data, shown through ``label`` so a French user reads them in French; a name an admin
#: added later is shown as typed.
VOCABULARY = {
    "Open": _("Open"),
    "Closed": _("Closed"),
    "In Work": _("In Work"),
    "Awaiting Information": _("Awaiting Information"),
    "low": _("low"),
    "medium": _("medium"),
    "high": _("high"),
}

#: The localizer an e-mail is being rendered for; it takes precedence over the request's.
_rendering_for = contextvars.ContextVar("flicket_localizer", default=None)


def negotiate_locale(request):
    """The logged-in user's choice, else the browser's best match, else English."""
    try:
        user = request.user
        chosen = user.locale if user is not None else None
    except SQLAlchemyError:  # the error page of an unreachable database still renders
        chosen = None
    if chosen in LOCALES:
        return chosen
    return request.accept_language.lookup(list(LOCALES), default=DEFAULT_LOCALE)


def localizer_for(registry, locale_name):
    """The localizer of ``locale_name``, shared with Pyramid's ``request.localizer`` cache."""
    if locale_name not in LOCALES:
        locale_name = DEFAULT_LOCALE
    localizer = registry.queryUtility(ILocalizer, name=locale_name)
    if localizer is None:
        directories = registry.queryUtility(ITranslationDirectories, default=[])
        localizer = make_localizer(locale_name, directories)
        registry.registerUtility(localizer, ILocalizer, name=locale_name)
    return localizer


_untranslated = make_localizer(DEFAULT_LOCALE, [])


def current_localizer():
    """The localizer text is being rendered in: an e-mail's recipient's, else the current
    request's, else English (no request: a console command before it has one)."""
    localizer = _rendering_for.get()
    if localizer is not None:
        return localizer
    request = get_current_request()
    if request is not None:
        return request.localizer
    return _untranslated


@contextlib.contextmanager
def localized(localizer):
    """Render everything inside the block (templates, ``translate``) in ``localizer``'s
    language; used for e-mails, which go out in their recipient's language."""
    token = _rendering_for.set(localizer)
    try:
        yield localizer
    finally:
        _rendering_for.reset(token)


def translate(message, localizer=None):
    """``message`` in the current language when it was marked for translation; any other
    value (a user's text, a number) unchanged."""
    if isinstance(message, TranslationString):
        localizer = localizer or current_localizer()
        return localizer.translate(message, mapping=_mapping(message, translate, localizer))
    return message


def _mapping(message, render, *args):
    """The mapping with its own marked values (``${name}`` = "Someone") rendered too."""
    if not message.mapping:
        return None
    return {key: render(value, *args) for key, value in message.mapping.items()}


def pluralize(singular, plural, n, localizer=None, **mapping):
    """``singular`` or ``plural`` (by ``n`` and the language's plural rule), translated and
    filled from ``mapping`` (``n`` is always available as ``${n}``). Pass both as plain
    string literals, not ``_()``: Babel extracts them as one plural message
    (``-k pluralize:1,2``)."""
    mapping.setdefault("n", n)
    return (localizer or current_localizer()).pluralize(
        singular, plural, n, domain=DOMAIN, mapping=mapping
    )


def english(message):
    """``message`` in English with its placeholders filled: for the JSON API and logs."""
    if isinstance(message, TranslationString):
        mapping = _mapping(message, english)
        if mapping:
            message = TranslationString(message, mapping=mapping)
        return message.interpolate()
    if isinstance(message, dict):
        return {key: english(value) for key, value in message.items()}
    if isinstance(message, list | tuple):
        return [english(value) for value in message]
    return message


def label(name):
    """A seeded status or priority name in the current language (see ``VOCABULARY``)."""
    localizer = current_localizer()
    key = (localizer.locale_name, name)
    shown = _labels.get(key)
    if shown is None:
        shown = translate(VOCABULARY.get(name, name), localizer)
        if len(_labels) < TEMPLATE_CACHE_SIZE:
            _labels[key] = shown
    return shown


def console_locale(environ=None):
    """The language of the operator's terminal (``LANGUAGE``, ``LC_ALL``, ``LC_MESSAGES``,
    ``LANG``, first one set), when Flicket speaks it; else English."""
    environ = os.environ if environ is None else environ
    for variable in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(variable)
        if not value:
            continue
        for candidate in value.split(":"):
            language = candidate.split(".")[0].split("_")[0].split("-")[0].lower()
            if language in LOCALES:
                return language
        return DEFAULT_LOCALE
    return DEFAULT_LOCALE


def console_localizer():
    """The localizer console commands print in (see ``console_locale``)."""
    return _localizer_without_registry(console_locale())


@functools.cache
def _localizer_without_registry(locale_name):
    return make_localizer(locale_name, [LOCALE_DIR])


def flash(request, message, kind="info"):
    """Show ``message`` on the next page, in the language of the person who caused it."""
    request.session.flash(translate(message, request.localizer), kind)


# -- Jinja2: gettext for templates, Babel formats ---------------------------------------------
#
# A list page calls these hundreds of times. Translations and formats depend only on the
# language and the value (the catalogues are compiled when the application starts), so
# they are remembered per process: template texts, seeded names, dates and small numbers
# are few. Nothing a person can change is kept here.

#: Entries each cache keeps at most (a bound on memory, never reached by template texts).
TEMPLATE_CACHE_SIZE = 20000
_translations = {}
_labels = {}


def gettext(message):
    localizer = current_localizer()
    key = (localizer.locale_name, message)
    translated = _translations.get(key)
    if translated is None:
        translated = localizer.translate(message, domain=DOMAIN)
        if len(_translations) < TEMPLATE_CACHE_SIZE:
            _translations[key] = translated
    return translated


def ngettext(singular, plural, n):
    return current_localizer().pluralize(singular, plural, n, domain=DOMAIN)


@functools.cache
def _babel_locale(name):
    return Locale.parse(name)


def pgettext(context, message):
    """``message`` in the sense ``context`` gives it (one English word, two French ones)."""
    message = TranslationString(message, domain=DOMAIN, context=context)
    return current_localizer().translate(message)


def npgettext(context, singular, plural, n):
    return current_localizer().pluralize(
        TranslationString(singular, domain=DOMAIN, context=context), plural, n, domain=DOMAIN
    )


def current_locale():
    return _babel_locale(current_localizer().locale_name)


def format_datetime(value):
    """A date and time as the current language writes it (``Nov 28, 2026, 17:05`` /
    ``28 nov. 2026, 17:05``): the language's medium date, 24-hour time, joined its way."""
    if value is None:
        return ""
    return _datetime_text(current_localizer().locale_name, value.replace(second=0, microsecond=0))


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _datetime_text(locale_name, value):
    locale = _babel_locale(locale_name)
    day = dates.format_skeleton("yMMMd", value, locale=locale)
    time = dates.format_skeleton("Hm", value, locale=locale)
    return locale.datetime_formats["medium"].replace("{1}", day).replace("{0}", time)


def format_date(value, skeleton="yMMMd"):
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        value = value.date()
    return _date_text(current_localizer().locale_name, value, skeleton)


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _date_text(locale_name, value, skeleton):
    return dates.format_skeleton(skeleton, value, locale=_babel_locale(locale_name))


def format_number(value):
    """A whole or decimal number with the language's separators (``1 234,5`` in French)."""
    value = value or 0
    if type(value) is int:  # counts: remembered (1.5 and 1.50 would share a cache entry)
        return _number_text(current_localizer().locale_name, value)
    return numbers.format_decimal(value, locale=current_locale())


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _number_text(locale_name, value):
    return numbers.format_decimal(value, locale=_babel_locale(locale_name))


def format_hours(value):
    """Hours with two decimals (``1.50`` / ``1,50``)."""
    return _hours_text(current_localizer().locale_name, decimal.Decimal(str(value or 0)))


@functools.lru_cache(maxsize=TEMPLATE_CACHE_SIZE)
def _hours_text(locale_name, value):
    return numbers.format_decimal(value, format="#,##0.00", locale=_babel_locale(locale_name))


def html_lang():
    return current_localizer().locale_name


def install_jinja2(env):
    """Give every template gettext (new style: values escaped), the formats and helpers."""
    env.add_extension("jinja2.ext.i18n")
    env.add_extension("jinja2.ext.do")
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_callables(
        gettext, ngettext, newstyle=True, pgettext=pgettext, npgettext=npgettext
    )
    env.globals.update(
        translate=translate,
        label=label,
        html_lang=html_lang,
        LOCALES=LOCALES,
    )
    env.filters.update(
        datetime=format_datetime,
        date=format_date,
        number=format_number,
        hours=format_hours,
    )


def includeme(config):
    compile_catalogues(LOCALE_DIR)
    config.add_translation_dirs("flicket:locale/")
    config.set_locale_negotiator(negotiate_locale)
