"""Word-cloud terms from session titles and descriptions: tokens, stop words, plural and singular merged.

Two steps, so that a session's contribution stays a pure function of that session (and can be replaced by a diff
when the session changes):

- `session_terms(title, description)` (per session): lowercase tokens, English stop words out, digits-only tokens
  out, and the plural rules that need no outside knowledge ('policies' -> 'policy', 'classes' -> 'class',
  'sessions' -> 'session').
- `merge_plurals(counts)` (at read time, over the whole vocabulary): a term that still ends in 's' joins its
  singular when that singular is itself in the vocabulary ('ais' -> 'ai' when 'ai' occurs).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

# A built-in English stop-word list (the classic Snowball/NLTK list plus a few connectives), lowercase.
STOP_WORDS: frozenset[str] = frozenset(
    {
        "a", "about", "above", "across", "after", "again", "against", "all", "almost", "along", "already", "also",
        "although", "always", "am", "among", "an", "and", "another", "any", "anyone", "anything", "are", "aren't",
        "around", "as", "at", "be", "became", "because", "been", "before", "being", "below", "between", "both", "but",
        "by", "can", "cannot", "could", "couldn't", "did", "didn't", "do", "does", "doesn't", "doing", "don't", "done",
        "down", "during", "each", "either", "else", "enough", "etc", "even", "ever", "every", "few", "for", "from",
        "further", "get", "gets", "getting", "given", "got", "had", "hadn't", "has", "hasn't", "have", "haven't",
        "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "however", "i", "if", "in",
        "into", "is", "isn't", "it", "it's", "its", "itself", "just", "least", "less", "let", "like", "made", "make",
        "many", "may", "me", "might", "more", "most", "much", "must", "mustn't", "my", "myself", "near", "need",
        "neither", "never", "new", "no", "nor", "not", "now", "of", "off", "often", "on", "once", "one", "only", "onto",
        "or", "other", "others", "otherwise", "our", "ours", "ourselves", "out", "over", "own", "per", "perhaps",
        "rather", "really", "same", "several", "shall", "she", "should", "shouldn't", "since", "so", "some", "such",
        "than", "that", "that's", "the", "their", "theirs", "them", "themselves", "then", "there", "there's",
        "therefore", "these", "they", "this", "those", "though", "through", "throughout", "thus", "to", "too", "toward",
        "towards", "under", "until", "up", "upon", "us", "use", "used", "using", "very", "via", "was", "wasn't", "we",
        "well", "were", "weren't", "what", "when", "where", "whether", "which", "while", "who", "whom", "whose", "why",
        "will", "with", "within", "without", "won't", "would", "wouldn't", "yet", "you", "your", "yours", "yourself",
        "yourselves"
    }
)

# Words whose final 's' is not a plural ending (and words the simple rules would mangle).
NOT_PLURAL: frozenset[str] = frozenset(
    {
        "analysis", "basis", "bias", "canvas", "chaos", "corpus", "campus", "census", "crisis", "diagnosis", "emphasis",
        "ethics", "economics", "gas", "genesis", "hypothesis", "lens", "logistics", "mathematics", "means", "news",
        "nexus", "physics", "plus", "politics", "process", "progress", "series", "species", "status", "statistics",
        "success", "thesis", "virus", "whereas", "business", "wellness", "awareness", "access", "address", "across"
    }
)

_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*")
_MIN_LENGTH = 2


def singular(token: str) -> str:
    """The rules that need no vocabulary: 'ies' -> 'y', 'sses' -> 'ss', a trailing 's' dropped (length > 3)."""
    if token in NOT_PLURAL or ("-" in token and token.rsplit("-", 1)[-1] in NOT_PLURAL):
        return token
    if token.endswith("ies") and len(token) > 4:
        return token[:-3] + "y"
    if token.endswith("sses"):
        return token[:-2]
    if token.endswith(("ss", "us", "is")):
        return token
    if token.endswith("s") and len(token) > 3:
        return token[:-1]
    return token


def tokens(text: str, stop_words: frozenset[str] = STOP_WORDS) -> list[str]:
    """Lowercase terms of `text` with stop words, digits-only tokens and one-letter tokens removed."""
    out: list[str] = []
    for raw in _TOKEN.findall(text.lower()):
        token = raw[:-2] if raw.endswith("'s") else raw
        token = token.strip("-'")
        if len(token) < _MIN_LENGTH or token.isdigit() or token in stop_words:
            continue
        token = singular(token)
        if token in stop_words:
            continue
        out.append(token)
    return out


def session_terms(title: str, description: str, stop_words: frozenset[str] = STOP_WORDS) -> dict[str, int]:
    """A session's contribution to the word cloud: term -> occurrences in its title and description."""
    return dict(Counter(tokens(f"{title}\n{description}", stop_words)))


def merge_plurals(counts: Mapping[str, int]) -> Counter[str]:
    """Fold a remaining plural into its singular when the singular is in the vocabulary ('ais' -> 'ai')."""
    merged: Counter[str] = Counter()
    for term, count in counts.items():
        if count <= 0:
            continue
        stem = term[:-1]
        if term.endswith("s") and not term.endswith("ss") and term not in NOT_PLURAL and counts.get(stem, 0) > 0:
            merged[stem] += count
        else:
            merged[term] += count
    return merged


def top_terms(counts: Mapping[str, int], size: int) -> list[tuple[str, int]]:
    """The `size` most frequent terms after plural merging, most frequent first, ties alphabetical."""
    merged = merge_plurals(counts)
    return sorted(merged.items(), key=lambda item: (-item[1], item[0]))[:size]


def stop_words_with(extra: Iterable[str]) -> frozenset[str]:
    """The built-in list plus site-specific words (lowercased, blanks ignored)."""
    more = {word.strip().lower() for word in extra if word.strip()}
    return STOP_WORDS | more if more else STOP_WORDS
