"""Mouth shapes, visemes, and the phoneme -> viseme table.

A :class:`MouthShape` is what one instant of speech does to a puppet: ``open`` (``ParamMouthOpenY``, 0..1),
``form`` (``ParamMouthForm``, -1 pucker/frown .. +1 wide/smile) and the five vowel weights ``ParamA``,
``ParamI``, ``ParamU``, ``ParamE``, ``ParamO`` (0..1, for puppets rigged with vowel shapes).

Visemes are the 15 of the Oculus/Meta set, which most TTS viseme outputs map onto:
``sil PP FF TH DD kk CH SS nn RR aa E ih oh ou``.

:func:`phoneme_visemes` turns one phoneme label from espeak-ng (mnemonics: ``aI``, ``@``, ``3:``), IPA
(Piper, espeak-ng ``--ipa``: ``aɪ``, ``ə``), ARPAbet (CMUdict, many cloud TTS: ``AY1``), Amazon Polly
visemes, or VOICEVOX/Japanese romaji (``a``, ``N``, ``cl``, ``pau``) into one or two visemes (diphthongs are
split in two halves). Unknown labels fall back to a neutral consonant and are reported by
:func:`unknown_label`, never silently ignored by the caller.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "PARAM_IDS",
    "SHAPES",
    "VISEMES",
    "VOWELS",
    "VOWEL_PARAMS",
    "MouthShape",
    "phoneme_visemes",
    "unknown_label",
    "vowel_of_viseme",
]

VOWELS = ("A", "I", "U", "E", "O")
VOWEL_PARAMS = tuple(f"Param{v}" for v in VOWELS)
PARAM_IDS = ("ParamMouthOpenY", "ParamMouthForm", *VOWEL_PARAMS)

VISEMES = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh", "ou")


@dataclass(frozen=True)
class MouthShape:
    """``open`` 0..1, ``form`` -1..1, ``vowels`` = weights of (A, I, U, E, O), each 0..1."""

    open: float
    form: float
    vowels: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        if not (0.0 <= self.open <= 1.0 and -1.0 <= self.form <= 1.0 and len(self.vowels) == 5
                and all(0.0 <= w <= 1.0 for w in self.vowels)):
            raise ValueError(f"MouthShape out of range: {self}")


def _v(i: int) -> tuple[float, float, float, float, float]:
    w = [0.0] * 5
    w[i] = 1.0
    return (w[0], w[1], w[2], w[3], w[4])


# Viseme -> mouth shape. Open values: vowels clearly open (>= 0.4), bilabials and silence shut (0), other
# consonants part-open. OPEN_THRESHOLD in lipsync.py (0.2) is the "visibly open" line.
SHAPES: dict[str, MouthShape] = {
    "sil": MouthShape(0.0, 0.0),
    "PP": MouthShape(0.0, 0.0),
    "FF": MouthShape(0.1, 0.2),
    "TH": MouthShape(0.15, 0.1),
    "DD": MouthShape(0.15, 0.1),
    "kk": MouthShape(0.15, 0.0),
    "CH": MouthShape(0.15, -0.3),
    "SS": MouthShape(0.1, 0.4),
    "nn": MouthShape(0.1, 0.1),
    "RR": MouthShape(0.15, -0.3),
    "aa": MouthShape(1.0, 0.0, _v(0)),
    "E": MouthShape(0.6, 0.4, _v(3)),
    "ih": MouthShape(0.4, 0.8, _v(1)),
    "oh": MouthShape(0.75, -0.5, _v(4)),
    "ou": MouthShape(0.4, -1.0, _v(2)),
}

_VOWEL_VISEME = {"aa": "A", "ih": "I", "ou": "U", "E": "E", "oh": "O"}


def vowel_of_viseme(viseme: str) -> str | None:
    """``aa`` -> ``A`` ... ``oh`` -> ``O``; consonant and silence visemes -> None."""
    return _VOWEL_VISEME.get(viseme)


_SILENCE = {"_", "_:", "_!", "_^_", "||", "|", "sil", "SIL", "pau", "sp", "spn", "#", "", "<sil>", "silence"}

# espeak-ng mnemonics (English and the common ones of other languages). Two visemes = diphthong halves.
_ESPEAK: dict[str, tuple[str, ...]] = {
    "a": ("aa",), "a#": ("aa",), "A:": ("aa",), "A@": ("aa",), "aa": ("aa",), "A": ("aa",), "V": ("aa",),
    "@": ("aa",), "@2": ("aa",), "@5": ("aa",), "3": ("aa",), "3:": ("E",), "@L": ("aa", "nn"),
    "a:": ("aa",), "&": ("aa",), "&:": ("aa",),
    "e": ("E",), "E": ("E",), "e:": ("E",), "E:": ("E",), "E2": ("E",), "e@": ("E", "aa"),
    "i": ("ih",), "i:": ("ih",), "I": ("ih",), "I#": ("ih",), "I2": ("ih",), "i@": ("ih", "aa"),
    "i@3": ("ih", "aa"), "y": ("ih",), "y:": ("ih",), "Y": ("ih",), "i.": ("ih",),
    "0": ("oh",), "O": ("oh",), "O:": ("oh",), "O@": ("oh",), "o@": ("oh",), "o": ("oh",), "o:": ("oh",),
    "W": ("oh",), "8": ("oh",),
    "U": ("ou",), "u": ("ou",), "u:": ("ou",), "U@": ("ou", "aa"), "u@": ("ou", "aa"),
    "aI": ("aa", "ih"), "aI@": ("aa", "ih"), "aI3": ("aa", "ih"), "aU": ("aa", "ou"), "aU@": ("aa", "ou"),
    "eI": ("E", "ih"), "OI": ("oh", "ih"), "oU": ("oh", "ou"), "oI": ("oh", "ih"), "eU": ("E", "ou"),
    "p": ("PP",), "b": ("PP",), "m": ("PP",),
    "f": ("FF",), "v": ("FF",), "T": ("TH",), "D": ("TH",),
    "t": ("DD",), "d": ("DD",), "t#": ("DD",), "d#": ("DD",), "*": ("DD",), "**": ("RR",), "t2": ("DD",),
    "d2": ("DD",),
    "k": ("kk",), "g": ("kk",), "N": ("kk",), "x": ("kk",), "h": ("kk",), "?": ("kk",), "Q": ("kk",),
    "tS": ("CH",), "dZ": ("CH",), "S": ("CH",), "Z": ("CH",), "C": ("CH",), "S;": ("CH",),
    "s": ("SS",), "z": ("SS",), "ts": ("SS",), "dz": ("SS",),
    "n": ("nn",), "l": ("nn",), "L": ("nn",), "n^": ("nn",), "l^": ("nn",), "l/": ("nn",), "l#": ("nn",),
    "r": ("RR",), "r-": ("RR",), "R": ("RR",), "r/": ("RR",),
    "w": ("ou",), "j": ("ih",),
    # VOICEVOX / Japanese romaji extras (lowercase vowels are shared with the rows above)
    "cl": ("PP",), "q": ("PP",), "ch": ("CH",), "sh": ("CH",), "ts_": ("SS",), "ky": ("kk",), "gy": ("kk",),
    "ny": ("nn",), "hy": ("kk",), "by": ("PP",), "py": ("PP",), "my": ("PP",), "ry": ("RR",),
}

_ARPABET: dict[str, tuple[str, ...]] = {
    "AA": ("aa",), "AE": ("aa",), "AH": ("aa",), "AO": ("oh",), "AW": ("aa", "ou"), "AY": ("aa", "ih"),
    "EH": ("E",), "ER": ("E",), "EY": ("E", "ih"), "IH": ("ih",), "IY": ("ih",), "OW": ("oh", "ou"),
    "OY": ("oh", "ih"), "UH": ("ou",), "UW": ("ou",), "AX": ("aa",), "AXR": ("E",), "IX": ("ih",),
    "B": ("PP",), "P": ("PP",), "M": ("PP",), "EM": ("PP",), "F": ("FF",), "V": ("FF",), "TH": ("TH",),
    "DH": ("TH",), "T": ("DD",), "D": ("DD",), "DX": ("DD",), "K": ("kk",), "G": ("kk",), "NG": ("kk",),
    "HH": ("kk",), "CH": ("CH",), "JH": ("CH",), "SH": ("CH",), "ZH": ("CH",), "S": ("SS",), "Z": ("SS",),
    "N": ("nn",), "EN": ("nn",), "L": ("nn",), "EL": ("nn",), "R": ("RR",), "W": ("ou",), "Y": ("ih",),
}

# One IPA character -> viseme (Piper and espeak-ng --ipa give IPA; combining marks are stripped first).
_IPA: dict[str, str] = {}
for _chars, _vis in [
    ("aɑæɐʌɶɒ", "aa"), ("əɚɜɘɵ", "aa"), ("eɛɝ", "E"), ("iɪyʏɨ", "ih"), ("oɔøœ", "oh"), ("uʊɯɤʉ", "ou"),
    ("pbmɱɸβ", "PP"), ("fvʋ", "FF"), ("θð", "TH"), ("tdɾʈɖɗ", "DD"), ("kgŋxɣqɢhɦʔχʁɡ", "kk"),
    ("ʃʒɕʑçʝ", "CH"), ("sz", "SS"), ("nɲɳlʎɭɬɮ", "nn"), ("rɹɻʀ", "RR"), ("wɥʍ", "ou"), ("j", "ih"),
]:
    for _c in _chars:
        _IPA[_c] = _vis
_MODIFIERS = set("ˈˌːˑ'‿͡ ̃ʰʲʷˠˤ̩̯")

# Amazon Polly viseme names that differ from the rows above.
_POLLY = {"@": ("aa",), "a": ("aa",), "e": ("E",), "E": ("E",), "i": ("ih",), "o": ("oh",), "O": ("oh",),
          "u": ("ou",), "S": ("CH",), "T": ("TH",), "k": ("kk",), "r": ("RR",), "s": ("SS",),
          "f": ("FF",), "t": ("DD",), "p": ("PP",)}

_unknown: set[str] = set()


def phoneme_visemes(label: str) -> tuple[str, ...]:
    """One phoneme/viseme label -> one or two visemes (see the module docstring for the vocabularies).

    A label that is only a stress or length mark returns ``()`` (it continues the previous phoneme).
    """
    if label in _SILENCE or label.strip() in _SILENCE:
        return ("sil",)
    if label in VISEMES:
        return (label,)
    if label in _ESPEAK:
        return _ESPEAK[label]
    if label in ("A", "I", "U", "E", "O"):  # VOICEVOX devoiced vowels / our vowel names
        return ({"A": "aa", "I": "ih", "U": "ou", "E": "E", "O": "oh"}[label],)
    base = label.rstrip("012")  # ARPAbet stress digits
    if base.upper() == base and base in _ARPABET:
        return _ARPABET[base]
    if label in _POLLY:
        return _POLLY[label]
    norm = "".join(c for c in unicodedata.normalize("NFD", label)
                   if c not in _MODIFIERS and not unicodedata.combining(c))
    if not norm:
        return ()
    if norm in _ESPEAK:
        return _ESPEAK[norm]
    vis = [_IPA[c] for c in norm if c in _IPA]
    if vis:
        vowels = [v for v in vis if v in _VOWEL_VISEME]
        if len(vowels) >= 2:
            return (vowels[0], vowels[1])
        if vowels:
            return (vowels[0],)
        return (vis[0],)
    low = norm.lower()
    if low in _ESPEAK:
        return _ESPEAK[low]
    if len(_unknown) < 1000:  # bounded: labels come from the network
        _unknown.add(label)
    return ("DD",)


def unknown_label(label: str) -> bool:
    """True if ``label`` fell back to the neutral consonant (was not in any table)."""
    return phoneme_visemes(label) == ("DD",) and label in _unknown
