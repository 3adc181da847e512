"""domain.fold: the one matching form used by every search and duplicate check."""

from vipterm.domain import fold


def test_accents_and_case_fold_both_ways():
    name = "José Ángel Núñez-Ibáñez “Güero”"
    for typed in ("jose", "JOSÉ", "nunez", "Núñez", "guero", "GÜERO", "angel", "ibanez"):
        assert fold(typed) in fold(name), typed
    assert fold("José") in fold("Jose Vigil")
    assert fold("nunez") not in fold("Jose Vigil")


def test_letters_without_a_decomposition_and_special_cases():
    assert fold("Straße") == "strasse"
    assert fold("Søren Łukasz") == "soren lukasz"
    assert fold("İsmail") == "ismail"
    assert fold("ﬁne") == "fine"  # compatibility ligature
    assert fold("Ἀθῆναι") == "αθηναι"  # other scripts lose their marks too
    assert fold("😎 Flaco") == "😎 flaco"  # symbols stay (only marks go)
    assert fold("Jose Vigil") == "jose vigil"  # the ASCII fast path agrees with the long way
