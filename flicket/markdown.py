"""Markdown to safe HTML: Python-Markdown, then the nh3 allowlist sanitiser.

Raw HTML in the source is passed through Markdown and then cleaned, so harmless markup
(``<b>``) survives while scripts, styles, frames, forms, event handlers and links other
than http, https and mailto never reach a page. The live preview uses this same function.
"""

import threading

import markdown as md
import nh3
from markupsafe import Markup, escape

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "span",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
    "code": {"class"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["fenced_code", "tables", "sane_lists"]


#: More "[" than any real post uses for links and images (see render_markdown).
MAX_LINK_BRACKETS = 200

#: One converter per thread, reset before each text: building one (its extensions, parsers
#: and patterns) costs more than converting a reply, and a ticket page converts dozens.
_converters = threading.local()


def _converter():
    converter = getattr(_converters, "markdown", None)
    if converter is None:
        converter = _converters.markdown = md.Markdown(extensions=EXTENSIONS, output_format="html")
    return converter.reset()


def render_markdown(text):
    """Sanitised HTML for the Markdown ``text`` (safe to insert into a page); never raises."""
    # Lone surrogates (possible in JSON input) cannot be encoded for the sanitiser.
    text = "" if text is None else str(text)
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if text.count("[") > MAX_LINK_BRACKETS:
        # Python-Markdown's link parsing is quadratic in "[" (seconds for a few thousand):
        # past a budget no real post needs, brackets become plain characters.
        text = text.replace("[", "&#91;")
    try:
        html = _converter().convert(text)
    except RecursionError:
        # Python-Markdown before 3.11 recurses once per nesting level: a few hundred
        # "- - - …" in one post would otherwise break every page that shows it (3.11 stops
        # nesting instead). Show the text as it is
        # (and build a fresh converter next time: this one stopped half-way).
        _converters.markdown = None
        html = f"<p>{escape(text)}</p>"
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return Markup(clean)  # noqa: S704 (cleaned by nh3 just above)  # nosec B704
