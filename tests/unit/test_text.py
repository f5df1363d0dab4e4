"""Normalisation and word keys of the classifier: one key per word, whatever its form."""

from __future__ import annotations

from cx_tasks.analyze.text import (
    TypoIndex,
    keys,
    known_word,
    normalise,
    osa_distance,
    unmix,
    word_key,
    words,
)


def test_normalise_folds_case_yo_and_compatibility_forms() -> None:
    # NFKC turns the ligature "ﬁ" into "fi"; "Ё" -> "ё" -> "е"
    assert normalise("ЁЖ ﬁle") == "еж file"
    # NFKC would make "№" the word "No" (an English "no", an absence word): it stays a sign
    assert normalise("Счёт № 771") == "счет # 771"
    assert words("НДС в счёте № 771 посчитан неверно") == [
        "ндс", "в", "счете", "посчитан", "неверно"]


def test_words_drop_punctuation_numbers_and_identifiers() -> None:
    # "O00000012" and "3" touch digits: no words; "из-за" splits at the hyphen
    assert words("Заказ O00000012: опоздал на 3 дня, из-за погоды!") == [
        "заказ", "опоздал", "на", "дня", "из", "за", "погоды"]


def test_look_alike_letters_are_read_in_the_word_s_script() -> None:
    latin_o = "п" + "o" + "ставка"  # Latin "o" inside a Cyrillic word
    cyrillic_e = "d" + "е" + "lay"  # Cyrillic "е" inside a Latin word
    assert unmix(latin_o) == "поставка"
    assert unmix(cyrillic_e) == "delay"
    assert words(f"{latin_o} {cyrillic_e}") == ["поставка", "delay"]


def test_russian_inflections_share_one_key() -> None:
    # pymorphy3 lemma "задержка" -> Snowball stem "задержк" for every case form
    assert {word_key(w) for w in ("задержка", "задержки", "задержку", "задержкой")} == {
        "задержк"}
    # participle and verb forms share the verb's lemma "повредить" -> stem "повред"
    assert {word_key(w) for w in ("повредили", "повреждённые", "повреждена")} == {"повред"}
    # ё and е give the same key
    assert word_key("повреждённый") == word_key("поврежденный")


def test_english_words_are_snowball_stems() -> None:
    assert [word_key(w) for w in ("delayed", "delays", "delay")] == ["delay"] * 3
    assert word_key("damaged") == word_key("damage") == "damag"


def test_keys_of_a_mixed_text_follow_each_word_s_language() -> None:
    assert keys("Задержка certificate") == ["задержк", "certif"]


def test_osa_distance_counts_one_edit_per_typo() -> None:
    assert osa_distance("задержк", "задрежк") == 1  # two neighbours swapped
    assert osa_distance("задержк", "задержкк") == 1  # a letter doubled
    assert osa_distance("задержк", "здержк") == 1  # a letter dropped
    assert osa_distance("kitten", "sitting") == 3  # k->s, e->i, +g
    assert osa_distance("ca", "abc") == 3  # OSA edits no substring twice


def test_a_misspelt_word_is_read_as_the_lexicon_word() -> None:
    index = TypoIndex(["задержк", "certif"], min_length=6)
    read, corrections = index.read(["задрежка", "certifcate", "груз"])
    # "задрежка" is unknown to pymorphy3; its key "задрежк" is one swap from "задержк";
    # "certifcate" has the key "certifc": one letter more than "certif"
    assert read == ["задержк", "certif", word_key("груз")]
    assert [c.word for c in corrections] == ["задрежка", "certifcate"]


def test_short_known_or_ambiguous_words_are_not_corrected() -> None:
    index = TypoIndex(["поставк", "ab" + "cdef", "ab" + "cdeg"], min_length=6)
    assert index.meant("подставка") is None  # a real word pymorphy3 knows (one edit away)
    assert TypoIndex(["задержк"], min_length=9).meant("задрежка") is None  # 8 letters < 9
    assert index.meant("abcdex") is None  # one edit from both "abcdef" and "abcdeg"


def test_correctly_spelt_english_words_are_not_read_as_lexicon_words() -> None:
    # each word is one edit from a lexicon key: "warned" -> key "warn", one letter from
    # "warp"; "advise" -> "advis" vs "advic"; "contact" vs "contract" (one letter dropped);
    # "planning" -> "plan" vs "plant" (one added). All four are English words in
    # rules/english_words.yaml, so none is corrected
    index = TypoIndex(["warp", "advic", "contract", "plant"], min_length=6)
    read, corrections = index.read(["warned", "advise", "contact", "planning"])
    assert read == ["warn", "advis", "contact", "plan"]
    assert corrections == []
    assert all(known_word(w) for w in ("warned", "advise", "contact", "planning"))
    # a misspelling that is no English word is still read as the lexicon word:
    # "contarct" swaps two neighbours of "contract"
    assert not known_word("contarct")
    assert index.meant("contarct") == "contract"


def test_known_words_in_both_languages() -> None:
    assert known_word("задержка") and not known_word("задрежка")
    assert known_word("labelling") and known_word("labeling")  # British and American
    assert not known_word("certifcate")
    assert not known_word("12345")  # neither script


def test_a_russian_comparative_keeps_its_own_key() -> None:
    # pymorphy3's lemma of "хуже" is "плохой", of "дольше" "долгий": the comparative says a
    # change ("всё хуже", "ждём всё дольше") and is keyed by its own stem, apart from
    # "плохо" and "долг" (a debt)
    assert [word_key(w) for w in ("хуже", "плохо", "дольше", "долг", "позже", "поздно")] == [
        "хуж", "плох", "дольш", "долг", "позж", "поздн"]


def test_lately_and_shortly_are_not_late_and_short() -> None:
    # Snowball stems "lately" to "late" and "shortly" to "short": a late delivery and a
    # short shipment in "lately it comes a week after" and "we will ship shortly"
    assert [word_key(w) for w in ("lately", "late", "shortly", "short", "delayed")] == [
        "lately", "late", "shortly", "short", "delay"]
