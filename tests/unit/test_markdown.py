"""render_markdown: Markdown in, sanitised HTML out. Formatting survives; scripts, styles,
frames, forms, event handlers and every URL scheme but http, https and mailto (and relative
links) do not; odd input never raises (reference §3.15; SECURITY-TESTS XSS-3)."""

import re
from html.parser import HTMLParser

import pytest
from markupsafe import Markup

from flicket.markdown import render_markdown


class Elements(HTMLParser):
    """(tag, attributes) of every element, in document order."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.elements = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def elements(html):
    return Elements(str(html)).elements


def tags(html):
    return [tag for tag, _ in elements(html)]


def hrefs(html):
    return [attrs.get("href") for tag, attrs in elements(html) if tag == "a"]


def assert_sanitised(html):
    """The invariants every output must satisfy."""
    for tag, attrs in elements(html):
        assert tag not in {
            "script",
            "style",
            "iframe",
            "form",
            "input",
            "object",
            "embed",
            "svg",
            "math",
            "link",
            "meta",
            "base",
            "textarea",
            "button",
        }, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name != "style", tag
            if name in ("href", "src"):
                url = re.sub(r"[\x00-\x20]", "", value or "").lower()
                scheme = re.match(r"^([a-z][a-z0-9+.-]*):", url)
                assert scheme is None or scheme.group(1) in {"http", "https", "mailto"}, value


# -- formatting is kept ---------------------------------------------------------------------------


def test_returns_markup_safe_to_insert():
    html = render_markdown("plain")
    assert isinstance(html, Markup)
    assert str(html) == "<p>plain</p>"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("# One", "<h1>One</h1>"),
        ("## Two", "<h2>Two</h2>"),
        ("### Three", "<h3>Three</h3>"),
        ("**bold**", "<strong>bold</strong>"),
        ("*italic*", "<em>italic</em>"),
        ("`x = 1`", "<code>x = 1</code>"),
        ("- a\n- b", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>"),
        ("1. a\n2. b", "<ol>\n<li>a</li>\n<li>b</li>\n</ol>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("a\n\n---\n\nb", "<hr>"),
        ("    indented code", "<pre><code>indented code\n</code></pre>"),
        ("```python\nprint(1)\n```", '<pre><code class="language-python">print(1)\n</code></pre>'),
        ("<b>raw bold</b> and <em>em</em>", "<b>raw bold</b> and <em>em</em>"),
    ],
)
def test_formatting_survives(source, expected):
    assert expected in str(render_markdown(source))


def test_images_with_http_sources_survive():
    found = elements(render_markdown("![alt text](https://example.com/a.png)"))
    assert ("img", {"src": "https://example.com/a.png", "alt": "alt text"}) in found


def test_tables_survive():
    html = render_markdown("| a | b |\n|---|---|\n| 1 | 2 |")
    assert tags(html) == ["table", "thead", "tr", "th", "th", "tbody", "tr", "td", "td"]
    assert "<td>1</td>" in str(html)


@pytest.mark.parametrize(
    ("source", "href"),
    [
        ("[a](https://example.com/x?y=1&z=2)", "https://example.com/x?y=1&z=2"),
        ("[a](http://example.com)", "http://example.com"),
        ("[a](mailto:someone@example.com)", "mailto:someone@example.com"),
        ("[a](/ticket_view/1/)", "/ticket_view/1/"),
        ("[a](../relative)", "../relative"),
        ("[a](#anchor)", "#anchor"),
        ("<https://example.com/auto>", "https://example.com/auto"),
        ("[a][r]\n\n[r]: https://example.com/ref", "https://example.com/ref"),
    ],
)
def test_safe_links_are_kept_with_rel_noopener(source, href):
    found = [attrs for tag, attrs in elements(render_markdown(source)) if tag == "a"]
    assert [a["href"] for a in found] == [href]
    assert "noopener" in found[0]["rel"].split()
    assert "noreferrer" in found[0]["rel"].split()


def test_raw_html_links_get_rel_noopener_too():
    found = elements(render_markdown('<a href="https://example.com" rel="opener">x</a>'))
    links = [attrs for tag, attrs in found if tag == "a"]
    assert links == [{"href": "https://example.com", "rel": "noopener noreferrer nofollow"}]


# -- dangerous things are removed -----------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        "<style>body{display:none}</style>",
        '<iframe src="https://evil.example/"></iframe>',
        '<form action="https://evil.example/"><input name="p"><button>go</button></form>',
        "<svg onload=alert(1)>",
        "<math><mi xlink:href='javascript:alert(1)'>x</mi></math>",
        '<object data="x.swf"></object><embed src="x.swf">',
        '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
        '<link rel="stylesheet" href="https://evil.example/x.css">',
        '<base href="https://evil.example/">',
        "<textarea>x</textarea>",
    ],
)
def test_dangerous_tags_are_removed(source):
    html = render_markdown(source)
    assert_sanitised(html)
    assert "alert(1)</script>" not in str(html)


def test_script_content_is_dropped_not_shown():
    assert "alert" not in str(render_markdown("<script>alert(1)</script>"))
    assert "display" not in str(render_markdown("<style>body{display:none}</style>"))


@pytest.mark.parametrize(
    "source",
    [
        "<img src=x onerror=alert(1)>",
        '<a href="https://example.com" onclick="alert(1)">x</a>',
        '<p onmouseover="alert(1)">x</p>',
        '<b style="position:fixed;top:0">x</b>',
        '<div ONLOAD="alert(1)">x</div>',
        "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    ],
)
def test_event_handlers_and_styles_are_removed(source):
    html = render_markdown(source)
    assert_sanitised(html)
    assert "alert" not in str(html) and "position" not in str(html)


@pytest.mark.parametrize(
    "source",
    [
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](java&#x09;script:alert(1))",
        "[x](javascript&colon;alert(1))",
        "[x](javascript:javascript:alert(1))",
        "[x]( javascript:alert(1))",
        "[x][r]\n\n[r]: javascript:alert(1)",
        "<javascript:alert(1)>",
        '<a href="javascript:alert(1)">x</a>',
        '<a href="  javascript:alert(1)">x</a>',
        '<a href="vbscript:msgbox(1)">x</a>',
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "![x](data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=)",
        "[x](ftp://example.com/file)",
        "[x](file:///etc/passwd)",
        '<img src="javascript:alert(1)">',
    ],
)
def test_only_http_https_mailto_and_relative_urls_survive(source):
    html = render_markdown(source)
    assert_sanitised(html)
    for tag, attrs in elements(html):
        for name in ("href", "src"):
            assert name not in attrs, (tag, attrs)


def test_html_comments_are_removed():
    assert str(render_markdown("a <!-- secret --> b")).count("secret") == 0


def test_text_that_looks_like_markup_in_code_is_escaped():
    html = str(render_markdown("`<script>alert(1)</script>`"))
    assert "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>" in html


# -- odd input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        None,
        "",
        " ",
        "\n\n\n",
        "\x00\x01\x02\x1b[31mred\x7f",
        "\u202eevil\u202c \ufeff \u200b",
        "\ud800 lone surrogate",
        "<" * 1000,
        "[" * 300,
        "*" * 3000,
        "<a href='" * 200,
        "```" * 500,
        "> " * 1000 + "deep",
        "- " * 500 + "deep",  # deeper than Python-Markdown's recursion allows
        "- " * 2500,
        "1. " * 1500,
        "\t" * 1000 + "x",
        "&#0; &#xD800; &#x110000; &#99999999999;",
    ],
)
def test_odd_input_never_raises(source):
    html = render_markdown(source)
    assert isinstance(html, Markup)
    assert_sanitised(html)


def test_none_and_empty_render_nothing():
    assert str(render_markdown(None)) == ""
    assert str(render_markdown("")) == ""


def test_not_a_string_is_rendered_as_its_text():
    assert str(render_markdown(42)) == "<p>42</p>"


def test_too_deep_nesting_renders_safely():
    """Hundreds of nesting levels: Python-Markdown either stops nesting (3.11 and later) or
    recurses too deep (before), which shows the text as it is; either way the text is shown,
    no script gets through, and the next text renders normally."""
    html = str(render_markdown("- " * 600 + "<script>alert(1)</script>"))
    assert "- - - - " in html
    assert "<script" not in html
    assert str(render_markdown("**next**")) == "<p><strong>next</strong></p>"


def test_lone_surrogates_are_replaced():
    assert str(render_markdown("a \ud800 b")) == "<p>a \ufffd\ufffd\ufffd b</p>"


def test_one_megabyte_of_text_renders():
    paragraph = "Some **bold** text, a [link](https://example.com) and `code`.\n\n"
    source = (paragraph * (1024 * 1024 // len(paragraph) + 1))[: 1024 * 1024]
    html = str(render_markdown(source))
    assert html.count("<strong>bold</strong>") > 10000
    assert_sanitised(html)


def test_control_characters_do_not_leak_markup():
    html = str(
        render_markdown("<scr\x00ipt>alert(1)</scr\x00ipt> <a href='java\x00script:x'>y</a>")
    )
    assert_sanitised(html)
    assert "<script" not in html.lower()


def test_many_brackets_are_plain_text_and_links_below_the_budget_still_work():
    # Past the budget brackets are neutralised (Python-Markdown's link parsing is quadratic
    # in "["), so a hostile post renders as text instead of costing seconds on every view.
    from flicket.markdown import MAX_LINK_BRACKETS

    hostile = "[" * 5000
    assert str(render_markdown(hostile)).count("[") == 5000
    links = "[x](https://example.com) " * (MAX_LINK_BRACKETS // 2)
    assert (
        str(render_markdown(links)).count('href="https://example.com"') == MAX_LINK_BRACKETS // 2
    )
    too_many = "[x](https://example.com) " * (MAX_LINK_BRACKETS + 1)
    assert "href=" not in str(render_markdown(too_many))
