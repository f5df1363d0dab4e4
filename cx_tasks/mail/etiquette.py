"""Business-letter conventions of client e-mails and pages: the salutation, a company's
name in quotation marks, reference numbers that never wrap.

Russian: a contact is addressed by first name and patronymic, "Уважаемый Олег Антонович!"
or "Уважаемая Анна Сергеевна!", the gender read from the patronymic's ending (``-ович``,
``-евич``, ``-ич`` male; ``-овна``, ``-евна``, ``-ична``, ``-инична`` female); the first
name is the word before the patronymic, so "Петров Олег Антонович" and "Олег Антонович
Петров" both work. Without a patronymic the salutation is the neutral "Здравствуйте!".
English: the CRM holds no title or gender (``crm_contacts.full_name`` only), so the
salutation is the neutral "Dear <full name>," ("Hello," without a name).
"""

from __future__ import annotations

import re

FEMALE_PATRONYMIC = ("овна", "евна", "ична")  # -ична covers -инична (Ильинична)
MALE_PATRONYMIC = ("ович", "евич", "ич")
NEUTRAL = {"ru": "Здравствуйте!", "en": "Hello,"}
QUOTES = "«»\"„“”"
NBSP = "\u00a0"
_CYRILLIC_NAME = re.compile(r"^[А-ЯЁ][а-яё]+(-[А-ЯЁ][а-яё]+)?$")


def patronymic_gender(word: str) -> str | None:
    """``female`` or ``male`` when ``word`` is a Russian patronymic by its ending, else None."""
    if not _CYRILLIC_NAME.match(word) or len(word) < 5:
        return None
    lower = word.lower()
    if lower.endswith(FEMALE_PATRONYMIC):
        return "female"
    if lower.endswith(MALE_PATRONYMIC):
        return "male"
    return None


def salutation(full_name: str | None, language: str) -> str:
    """The opening line addressing a contact (module doc): Russian by first name and
    patronymic, else neutral."""
    words = (full_name or "").split()
    if language != "ru":
        return f"Dear {' '.join(words)}," if words else NEUTRAL["en"]
    for before, word in zip(words, words[1:], strict=False):
        gender = patronymic_gender(word)
        if gender and _CYRILLIC_NAME.match(before) and patronymic_gender(before) is None:
            dear = "Уважаемая" if gender == "female" else "Уважаемый"
            return f"{dear} {before} {word}!"
    return NEUTRAL["ru"]


def company_name(name: str, language: str) -> str:
    """A client company's name as a Russian letter writes it: in «» unless it carries its
    own quotation marks (ООО «Алтайхимпром» stays as is); English names as they are."""
    if language != "ru" or any(mark in name for mark in QUOTES):
        return name
    return f"«{name}»"
