"""The message catalogs: extract every msgid of the templates and Python sources, and update the catalogs.

    uv run python -m plenary_web.messages            # rewrite locale/<domain>.pot, merge it into each .po
    uv run python -m plenary_web.messages --check    # exit 1 listing the msgids a catalog does not translate

Two domains, so that two people can work on them at once: `staff` (plenary_web/staff/ and templates/staff/)
and `messages` (everything else); at run time a language's catalogs are merged. Keywords: `_`, `gettext`,
`ngettext`, `N_` (Babel's defaults). A new string needs its French entry in
locale/fr/LC_MESSAGES/<domain>.po; the unit tests check that none is missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

PACKAGE = Path(__file__).parent
LOCALE = PACKAGE / "locale"
JINJA = {"extensions": "", "trimmed": "true"}
DOMAINS: dict[str, list[tuple[str, str]]] = {
    "messages": [("staff/**", "ignore"), ("templates/staff/**", "ignore"), ("templates/**.html", "jinja2"),
                 ("**.py", "python")],
    "staff": [("staff/**.py", "python"), ("templates/staff/**.html", "jinja2")],  # others match nothing
}
TRANSLATED = ("fr",)
PLURAL_FORMS = {"fr": (2, "(n > 1)")}  # the classic two forms (CLDR's extra one for millions is not used)


def extract(domain: str = "messages") -> Catalog:
    catalog = Catalog(project="plenary-web", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE), DOMAINS[domain], options_map={"templates/**.html": JINJA},
        callback=None, strip_comment_tags=True,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def missing(template: Catalog, lang: str, domain: str = "messages") -> list[str]:
    path = LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return [str(m.id) for m in template if m.id]
    with path.open("rb") as handle:
        po = read_po(handle, locale=lang)
    out = []
    for message in template:
        if not message.id:
            continue
        found = po.get(message.id)
        strings = found.string if found is not None else None
        ok = all(strings) if isinstance(strings, tuple | list) else bool(strings)
        if found is None or not ok or found.fuzzy:
            out.append(message.id[0] if isinstance(message.id, tuple | list) else str(message.id))
    return out


def update(domain: str = "messages") -> None:
    template = extract(domain)
    LOCALE.mkdir(exist_ok=True)
    with (LOCALE / f"{domain}.pot").open("wb") as handle:
        write_po(handle, template, width=120, omit_header=False, sort_output=True, no_location=True)
    for lang in TRANSLATED:
        path = LOCALE / lang / "LC_MESSAGES" / f"{domain}.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as handle:
                po = read_po(handle, locale=lang)
        else:
            po = Catalog(locale=lang, project="plenary-web", fuzzy=False)
        if lang in PLURAL_FORMS:
            setattr(po, "_num_plurals", PLURAL_FORMS[lang][0])  # noqa: B010 (Babel has no setter for these)
            setattr(po, "_plural_expr", PLURAL_FORMS[lang][1])  # noqa: B010
        po.update(template, no_fuzzy_matching=True)
        po.obsolete.clear()
        with path.open("wb") as handle:
            write_po(handle, po, width=120, sort_output=True, no_location=True, ignore_obsolete=True)


def main(argv: list[str]) -> int:
    domains = [d for d in DOMAINS if d in argv] or list(DOMAINS)
    if "--check" in argv:
        bad = [(lang, domain, msgid) for domain in domains for lang in TRANSLATED
               for msgid in missing(extract(domain), lang, domain)]
        for lang, domain, msgid in bad:
            print(f"{lang}/{domain}: {msgid!r} has no translation")
        return 1 if bad else 0
    for domain in domains:
        update(domain)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
