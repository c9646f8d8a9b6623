"""Translation: gettext catalogs (`locale/<lang>/LC_MESSAGES/messages.po`, read with Babel) and the language of the
current request.

English is the source language (msgids are the English text); French ships as `fr`. `_()` translates for the
language of the request being served (a context variable set by the page-rendering helper), so Python code and
templates use the same function. `N_()` only marks a string for extraction (module-level vocabularies), to be
translated later with `_()`.

Language choice, first match wins: `?lang=` (remembered in the `lang` cookie), the `lang` cookie, Accept-Language.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.messages.pofile import read_po
from markupsafe import Markup, escape

LANGUAGES: dict[str, str] = {"en": "English", "fr": "Français"}
DEFAULT = "en"
LOCALE_DIR = Path(__file__).parent / "locale"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("plenary_web_lang", default=DEFAULT)


@dataclass
class Catalog:
    lang: str
    messages: dict[str, str] = field(default_factory=dict)
    plurals: dict[str, tuple[str, ...]] = field(default_factory=dict)
    plural_rule: Any = None

    def gettext(self, msgid: str) -> str:
        return self.messages.get(msgid) or msgid

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        forms = self.plurals.get(singular)
        if forms and self.plural_rule is not None:
            index = int(self.plural_rule(n))
            if 0 <= index < len(forms) and forms[index]:
                return forms[index]
        return singular if n == 1 else plural


@cache
def catalog(lang: str) -> Catalog:
    """The catalog of one language (the English one is empty: msgids are English)."""
    result = Catalog(lang)
    if lang == DEFAULT:
        return result
    result.plural_rule = _plural_rule(lang)
    for path in sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):  # every domain (messages, staff)
        with path.open("rb") as handle:
            _load(result, read_po(handle, locale=lang))
    return result


def _load(result: Catalog, po: Any) -> None:
    for message in po:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple | list):
            forms = tuple(message.string) if isinstance(message.string, tuple | list) else (message.string,)
            if all(forms):
                result.plurals[message.id[0]] = forms
        elif message.string:
            result.messages[message.id] = str(message.string)


def _plural_rule(lang: str) -> Any:
    """Index of the plural form for n: CLDR's `one` category is form 0, every other one form 1 (the two-form
    languages that ship: English and French, where 0 and 1 are both `one`)."""
    rule = Locale.parse(lang).plural_form
    return lambda n: 0 if rule(n) == "one" else 1


def current_language() -> str:
    return _current.get()


def set_language(lang: str) -> contextvars.Token[str]:
    return _current.set(lang if lang in LANGUAGES else DEFAULT)


def reset_language(token: contextvars.Token[str]) -> None:
    _current.reset(token)


def _(msgid: str, /, **params: Any) -> str:
    """Translate `msgid` into the current request's language; `%(name)s` placeholders take `params`."""
    text = catalog(_current.get()).gettext(msgid)
    if not params:
        return text
    if any(isinstance(v, Markup) for v in params.values()):  # HTML in a parameter: escape the rest
        return escape(text) % params
    return text % params


def ngettext(singular: str, plural: str, n: int, /, **params: Any) -> str:
    text = catalog(_current.get()).ngettext(singular, plural, n)
    values = {"num": n, **params}
    if any(isinstance(v, Markup) for v in values.values()):
        return escape(text) % values
    return text % values


def N_(msgid: str) -> str:
    """Mark for extraction only; translate with `_()` where it is shown."""
    return msgid


def negotiate(query_lang: str | None, cookie_lang: str | None, accept_language: str | None) -> str:
    for candidate in (query_lang, cookie_lang):
        if candidate and candidate.lower() in LANGUAGES:
            return candidate.lower()
    for tag, _q in _accept(accept_language or ""):
        base = tag.split("-", 1)[0]
        if base in LANGUAGES:
            return base
    return DEFAULT


def _accept(header: str) -> list[tuple[str, float]]:
    """Accept-Language as (tag, q), best first."""
    out: list[tuple[str, float]] = []
    for part in header.split(","):
        tag, _sep, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        q = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            out.append((tag, q))
    return sorted(out, key=lambda item: -item[1])
