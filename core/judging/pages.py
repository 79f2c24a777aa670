"""The judgement words the pages print — survived / damaged / broke, held / flipped, succeeded,
restored, holds / gets through — and the warnings that come before them, from one rule set.

Every page and result view that judges one run takes its verdict from a function here, so that
the same numbers give the same word, and the same colour, everywhere. Each function returns a
:class:`Verdict`: the word, a tone, and one Markdown sentence that carries the numbers the word
rests on (a reader sees "broke (IoU 0.41 with the clean mask)", never the word alone).

**Tones, one meaning across pages.** ``good`` (green): the model's answer is kept (the mask
survived, the prediction held, the defense restored or holds). ``bad`` (red): the model was fooled
or a defense made things worse. ``neutral`` (blue): there is nothing to judge on this input — the
model is already wrong, unsure, near chance or degenerate before any attack — and the sentence
says what the attack can and cannot show here. ``caution`` (yellow): a verdict that holds by a
thin margin, or a defense that restored the answer only against an attacker who ignored it.
Colours are a page's business (``ui/verdicts.py`` maps tones to boxes); core only
names the tone. The Attack Lab therefore shows a *successful* attack in red: red always means
"the model's answer was changed", whoever's side the reader is on.

**Thresholds** (each has a glossary entry, :mod:`core.teaching.glossary`):

* :data:`SURVIVED_AT` = 0.8 and :data:`BROKE_BELOW` = 0.5 — the share of the clean mask kept.
  For a person mask that is the attacked mask's IoU with the clean mask; for a label map, the
  attacked mIoU divided by the clean mIoU (both against the same reference). A mask *survived*
  at ≥ 0.8 (most of it is kept: on a 20 %-person photo that allows roughly one pixel in ten of
  the person to flip), *broke* below 0.5 (the IoU at which two shapes stop reading as "the same
  object"), and is *damaged* in between — which is red, not green: a mask that lost a third of
  the person did not survive in any sense a viewer would accept.
* :data:`CHANGE_MARGIN` = 0.05 — a defense changed the outcome only when it moves the IoU (or the
  kept share) by more than this; *worse than no defense* when it lowers it by more than
  :data:`WORSE_MARGIN` = 0.02.
* :data:`ONE_CLASS_SHARE` = 0.99 — a clean map whose most frequent class covers at least this share
  of the pixels (or a person mask with less than 1 − this share, or more than this share, of
  person) is *degenerate*: there is no map to break, and IoU against such a map reads 1.00 for
  any attack that does not change it.
* :data:`LOW_CLEAN_MIOU` = 0.5 — a segmenter whose clean mIoU against the ground truth is below
  this is *already wrong* on the input.
* :data:`UNSURE_BELOW` = 0.2 — a classifier whose clean top-1 probability is below this is
  *unsure*: fooling it proves little.
* :data:`NARROW_BELOW` = 0.5 — a prediction that *held* with a probability of the true class below
  this held *narrowly* (another class is within reach).
* :data:`NEAR_CHANCE_FACTOR` = 2 — a model (or a model variant) whose clean accuracy, or whose
  probability of the class it predicts, is below twice chance (2 / number of classes) is *near
  chance*: its flips and sensitivities are not comparable with those of a model that works.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Tone = Literal["good", "bad", "neutral", "caution"]
GOOD: Tone = "good"
BAD: Tone = "bad"
NEUTRAL: Tone = "neutral"
CAUTION: Tone = "caution"

SURVIVED_AT = 0.8
BROKE_BELOW = 0.5
CHANGE_MARGIN = 0.05
WORSE_MARGIN = 0.02
ONE_CLASS_SHARE = 0.99
LOW_CLEAN_MIOU = 0.5
UNSURE_BELOW = 0.2
NARROW_BELOW = 0.5
NEAR_CHANCE_FACTOR = 2.0

# Words (shared vocabulary of the pages; the Claims page's verdicts live in core.judging.claims).
SURVIVED, DAMAGED, BROKE = "survived", "damaged", "broke"
HELD, HELD_NARROWLY, FLIPPED = "held", "held narrowly", "flipped"
SUCCEEDED, NOT_REACHED = "succeeded", "did not reach its goal"
RESTORED, PARTLY_RESTORED, HOLDS, GETS_THROUGH = "restored", "partly restored", "holds", "gets through"
NO_DIFFERENCE, WORSE = "no real difference", "worse than no defense"
ALREADY_WRONG, UNSURE, NEAR_CHANCE, DEGENERATE, ABSTAINS = (
    "already wrong", "unsure", "near chance", "degenerate", "abstains")
CERTIFIED, CERTIFIED_OTHER, NOT_ADAPTIVE = "certified", "certified another class", "non-adaptive attacker"
NOT_JUDGED = (ALREADY_WRONG, UNSURE, NEAR_CHANCE, DEGENERATE)


@dataclass(frozen=True)
class Verdict:
    """One judgement: ``word`` (from the vocabulary above), ``tone`` and the Markdown
    ``sentence`` that states it with its numbers."""

    word: str
    tone: Tone
    sentence: str

    @property
    def judged(self) -> bool:
        """False when the input was not fit to judge (already wrong, unsure, near chance, degenerate)."""
        return self.word not in NOT_JUDGED


def _name(s: str) -> str:
    return f"“{s}”"


def _num(v: float, *thresholds: float) -> str:
    """``v`` to two decimals, or more where two would round it onto the other side of a threshold the
    sentence judges it by (0.497 is shown as 0.497, not as 0.50, beside "below 0.5")."""
    for digits in (2, 3, 4):
        text = f"{v:.{digits}f}"
        if all((float(text) >= t) == (v >= t) for t in thresholds):
            return text
    return f"{v:.6f}"


# --------------------------------------------------------------------------- inputs unfit to judge
def chance_level(n_classes: int) -> float:
    """1 / number of classes."""
    return 1.0 / max(int(n_classes), 1)


def near_chance(value: float, n_classes: int) -> bool:
    """``value`` (an accuracy, or the probability of the predicted class) is below
    :data:`NEAR_CHANCE_FACTOR` × chance."""
    return value < NEAR_CHANCE_FACTOR * chance_level(n_classes)


def classifier_input(label_name: str, clean_name: str, clean_prob: float, clean_correct: bool,
                     n_classes: int) -> Verdict | None:
    """Why a classifier's clean prediction cannot support an attack verdict, or None when it can:
    *already wrong* (the clean top-1 is not the true class), *near chance* (its probability below
    twice chance), *unsure* (below :data:`UNSURE_BELOW`)."""
    if not clean_correct:
        return Verdict(ALREADY_WRONG, NEUTRAL,
                       f"The model is **already wrong** on the clean image: it says {_name(clean_name)} "
                       f"({clean_prob:.0%}), not {_name(label_name)}. An attack cannot make a wrong answer more "
                       "wrong; this input shows nothing about robustness.")
    if near_chance(clean_prob, n_classes):
        return Verdict(NEAR_CHANCE, NEUTRAL,
                       f"The model is **near chance** on the clean image: {_name(clean_name)} at {clean_prob:.0%} "
                       f"(chance {chance_level(n_classes):.0%}). A flip here says little about robustness.")
    if clean_prob < UNSURE_BELOW:
        return Verdict(UNSURE, NEUTRAL,
                       f"The model is **unsure** on the clean image: {_name(clean_name)} at only {clean_prob:.0%}. "
                       "Fooling an unsure model proves little; an attack that fails here would be more telling.")
    return None


def model_accuracy(name: str, accuracy: float, n_classes: int) -> Verdict | None:
    """A model (or model variant) whose clean accuracy is near chance, else None."""
    if near_chance(accuracy, n_classes):
        return Verdict(NEAR_CHANCE, NEUTRAL,
                       f"**{name}** is **near chance**: clean accuracy {accuracy:.1%} (chance "
                       f"{chance_level(n_classes):.0%}). Its robustness numbers are not comparable with a model "
                       "that works.")
    return None


def segmenter_input(top_class_share: float, top_class_name: str, clean_miou: float | None = None,
                    against_truth: bool = False) -> Verdict | None:
    """Why a segmenter's clean map cannot support an attack verdict, or None: *degenerate* (one
    class on at least :data:`ONE_CLASS_SHARE` of the pixels), *already wrong* (clean mIoU against the
    ground truth below :data:`LOW_CLEAN_MIOU`)."""
    if top_class_share >= ONE_CLASS_SHARE:
        return Verdict(DEGENERATE, NEUTRAL,
                       f"The model's clean map is **degenerate**: {_name(top_class_name)} on {top_class_share:.1%} "
                       "of the pixels. There is no map to break, and an IoU against it reads high whatever the "
                       "attack does; this input shows nothing about robustness.")
    if against_truth and clean_miou is not None and clean_miou < LOW_CLEAN_MIOU:
        return Verdict(ALREADY_WRONG, NEUTRAL,
                       f"The model is **already wrong** on this image before any attack: clean mIoU "
                       f"{_num(clean_miou, LOW_CLEAN_MIOU)} against the ground truth (below {LOW_CLEAN_MIOU:g}). The attack can only "
                       "show how a poor map gets worse, not whether a good one survives.")
    return None


def fewshot_input(clean_dice: dict[str, float]) -> Verdict | None:
    """Which few-shot models are already wrong on the shown episode before any attack (clean Dice of the
    novel-class mask below :data:`LOW_CLEAN_MIOU`), or None when every model starts from a usable mask."""
    wrong = {k: v for k, v in clean_dice.items() if v < LOW_CLEAN_MIOU}
    if not wrong:
        return None
    names = ", ".join(f"{k} (clean Dice {_num(v, LOW_CLEAN_MIOU)})" for k, v in wrong.items())
    return Verdict(ALREADY_WRONG, NEUTRAL,
                   f"**Already wrong** on this episode before any attack: {names}, below {LOW_CLEAN_MIOU:g}. For "
                   "these models the attack can only show a poor mask getting worse; the cards' 60-episode "
                   "numbers say how robust they are.")


def person_mask_input(person_share: float) -> Verdict | None:
    """A clean person mask that is (almost) empty or (almost) everything is degenerate."""
    if person_share <= 1 - ONE_CLASS_SHARE or person_share >= ONE_CLASS_SHARE:
        what = "no person" if person_share <= 1 - ONE_CLASS_SHARE else "person everywhere"
        return Verdict(DEGENERATE, NEUTRAL,
                       f"The clean mask is **degenerate** ({what}: person on {person_share:.1%} of the pixels). "
                       "There is no outline to break; choose a photo with a person in it.")
    return None


# --------------------------------------------------------------------------- segmentation
def _kept_word(kept: float) -> tuple[str, Tone]:
    if kept >= SURVIVED_AT:
        return SURVIVED, GOOD
    if kept < BROKE_BELOW:
        return BROKE, BAD
    return DAMAGED, BAD


def mask_attack(iou_attacked: float, pixels_flipped: int | None = None, pixel_accuracy: float | None = None,
                person_share: float | None = None) -> Verdict:
    """A person mask under attack, judged by its IoU with the clean mask (see the thresholds)."""
    if person_share is not None and (pre := person_mask_input(person_share)) is not None:
        return pre
    word, tone = _kept_word(iou_attacked)
    extra = []
    if pixels_flipped is not None:
        extra.append(f"{pixels_flipped:,} pixels flipped")
    if pixel_accuracy is not None:
        extra.append(f"pixel agreement {pixel_accuracy:.0%}")
    nums = f"IoU with the clean mask **{_num(iou_attacked, SURVIVED_AT, BROKE_BELOW)}**" + (
        "; " + ", ".join(extra) if extra else "")
    text = {SURVIVED: f"The mask **survived** the attack ({nums}): most of it is kept.",
            DAMAGED: f"The attack **damaged** the mask ({nums}): a visible part of it is lost "
                     f"(survived means IoU ≥ {SURVIVED_AT:g}).",
            BROKE: f"The attack **broke** the mask ({nums}): less than half of it overlaps the clean mask."}[word]
    return Verdict(word, tone, text)


def defense_change(before: float, after: float, what: str = "IoU", ignored_defense: bool = False) -> Verdict:
    """What a defense did to an attacked mask or map: ``before``/``after`` are the share kept
    (IoU with the clean mask, or mIoU ratio) without and with the defense."""
    note = " — against an attacker who ignored the defense" if ignored_defense else ""
    if after < before - WORSE_MARGIN:
        return Verdict(WORSE, BAD, f"The defense made it **worse than no defense** ({what} {before:.2f} → "
                                   f"{after:.2f}){note}.")
    if after > before + CHANGE_MARGIN:
        if after >= SURVIVED_AT:  # yellow, not green, when the attacker ignored the defense: not yet shown robust
            return Verdict(RESTORED, CAUTION if ignored_defense else GOOD,
                           f"The defense **restored** it ({what} {before:.2f} → {after:.2f}){note}.")
        return Verdict(PARTLY_RESTORED, CAUTION if after >= BROKE_BELOW else BAD,
                       f"The defense **partly restored** it ({what} {before:.2f} → {after:.2f}; restored means ≥ "
                       f"{SURVIVED_AT:g}){note}.")
    return Verdict(NO_DIFFERENCE, GOOD if after >= SURVIVED_AT else BAD,
                   f"The defense made **no real difference** ({what} {before:.2f} → {after:.2f}){note}.")


def label_map_attack(miou_clean: float, miou_attacked: float, against_truth: bool, top_class_share: float,
                     top_class_name: str) -> Verdict:
    """A multi-class label map under attack: first whether the clean map can be judged
    (:func:`segmenter_input`), then the share kept, ``miou_attacked / miou_clean``."""
    pre = segmenter_input(top_class_share, top_class_name, miou_clean, against_truth)
    if pre is not None:
        return pre
    kept = miou_attacked / miou_clean if miou_clean > 0 else 0.0
    word, tone = _kept_word(kept)
    ref = "the ground truth" if against_truth else "the clean prediction"
    nums = f"mIoU against {ref} {miou_clean:.2f} → **{miou_attacked:.2f}**, {kept:.0%} kept"
    text = {SURVIVED: f"The map **survived** the attack ({nums}).",
            DAMAGED: f"The attack **damaged** the map ({nums}; survived means ≥ {SURVIVED_AT:.0%} kept).",
            BROKE: f"The attack **broke** the map ({nums})."}[word]
    return Verdict(word, tone, text)


def kept_share(miou_clean: float, miou: float) -> float:
    """``miou / miou_clean`` (0 when the clean mIoU is 0): the share of the clean map's quality kept."""
    return miou / miou_clean if miou_clean > 0 else 0.0


# --------------------------------------------------------------------------- classification
def classification(label_name: str, clean_name: str, clean_prob: float, clean_correct: bool, adv_name: str,
                   adv_correct: bool, p_label_adv: float, n_classes: int) -> Verdict:
    """One image attacked on one classifier: *held* (still the true class, with probability of the
    true class ≥ :data:`NARROW_BELOW`), *held narrowly* (below it), *flipped*; or the neutral
    :func:`classifier_input` verdict when the clean prediction cannot be judged."""
    pre = classifier_input(label_name, clean_name, clean_prob, clean_correct, n_classes)
    if pre is not None:
        return pre
    if not adv_correct:
        return Verdict(FLIPPED, BAD, f"**Flipped**: {_name(clean_name)} → {_name(adv_name)} "
                                     f"(P({label_name}) now {p_label_adv:.0%}).")
    if p_label_adv < NARROW_BELOW:
        return Verdict(HELD_NARROWLY, CAUTION, f"**Held narrowly** on this image: still {_name(label_name)}, but at "
                                               f"{p_label_adv:.0%} (held means ≥ {NARROW_BELOW:.0%}).")
    return Verdict(HELD, GOOD, f"**Held** on this image: still {_name(label_name)} at {p_label_adv:.0%}.")


def attack_outcome(attack: str, succeeded: bool, goal_text: str, clean_name: str, adv_name: str,
                   unfit: Verdict | None = None) -> Verdict:
    """The Attack Lab's verdict on the bare model: *succeeded* (red: the model's answer was
    changed as the attacker wanted) or *did not reach its goal* (green); neutral when the clean
    input is unfit to judge (``unfit`` from :func:`classifier_input`), the outcome still stated."""
    if succeeded:
        s = f"**{attack} succeeded** ({goal_text}): {_name(clean_name)} → {_name(adv_name)}."
        tone: Tone = BAD
        word = SUCCEEDED
    else:
        s = (f"**{attack} did not reach its goal** ({goal_text}) within this budget; the model still says "
             f"{_name(adv_name)}. Try a larger ε or more steps.")
        tone, word = GOOD, NOT_REACHED
    if unfit is not None:
        return Verdict(unfit.word, NEUTRAL, s + f" But the model was **{unfit.word}** on the clean image, so this "
                                                "says little about its robustness (see below).")
    return Verdict(word, tone, s)


def defended_classifier(defense: str, label_name: str, bare_fooled: bool, def_clean_correct: bool,
                        def_clean_abstains: bool, def_adv_meets_goal: bool, def_adv_abstains: bool,
                        worse_than_none: bool, p_label_def: float | None = None,
                        p_label_bare: float | None = None) -> Verdict:
    """One defense on one attacked image: *already wrong* / *abstains* on the clean image (neutral),
    *abstains* on the attacked one (caution), *gets through* (red), *restored* (the bare model was
    fooled and the defense gives the right answer: green), *holds* (the bare model was not fooled
    either: green); *worse than no defense* (red) overrides a green verdict."""
    if def_clean_abstains or not def_clean_correct:
        w = "abstains on the clean image" if def_clean_abstains else "is already wrong on the clean image"
        return Verdict(ABSTAINS if def_clean_abstains else ALREADY_WRONG, NEUTRAL,
                       f"**{defense}** {w}: nothing left to defend.")
    if def_adv_abstains:
        return Verdict(ABSTAINS, CAUTION, f"**{defense}** abstains on the attacked image (it noticed, but gives no answer).")
    if def_adv_meets_goal:
        return Verdict(GETS_THROUGH, BAD, f"The attack **gets through** **{defense}**.")
    if worse_than_none:
        nums = (f" (P({label_name}) {p_label_def:.0%} vs {p_label_bare:.0%} without it)"
                if p_label_def is not None and p_label_bare is not None else "")
        return Verdict(WORSE, BAD, f"**{defense}** keeps the answer but does **worse than no defense**{nums}.")
    if bare_fooled:
        return Verdict(RESTORED, GOOD, f"**{defense}** **restored** the true class {_name(label_name)}.")
    return Verdict(HOLDS, GOOD, f"**{defense}** **holds** (the attack did not fool the bare model either).")


def certificate(predicted: int, certified_name: str, top_name: str, clean_name: str, votes: int, n: int,
                p_lower: float, radius: float) -> Verdict:
    """A randomized-smoothing certificate of one image (Cohen et al.'s CERTIFY): *abstains* (caution: the
    vote's lower bound is not above ½, so nothing is certified, and nothing is fooled either); *certified
    another class* (caution: the noisy vote certifies a class that the model without noise does not give,
    so the certificate is about a different answer); *certified* (green: the same class as the model
    without noise, within the stated L2 radius). ``predicted`` < 0 means abstain; ``top_name`` is the
    vote's top class either way."""
    votes_txt = f"{votes}/{n} votes, p̲A = {p_lower:.3f}"
    if predicted < 0:
        return Verdict(ABSTAINS, CAUTION, f"**Abstains.** The top class {_name(top_name)} got {votes_txt}: its lower "
                                          "bound is not above ½, so no radius is certified.")
    if certified_name != clean_name:
        return Verdict(CERTIFIED_OTHER, CAUTION,
                       f"**Certified: {_name(certified_name)}** within L2 radius **{radius:.3f}** ({votes_txt}) — "
                       f"but without noise the model says {_name(clean_name)}. The certificate is about the noisy "
                       "vote, which here disagrees with the model's own answer: try a smaller σ.")
    return Verdict(CERTIFIED, GOOD, f"**Certified: {_name(certified_name)}** within L2 radius **{radius:.3f}** "
                                    f"({votes_txt}), the same class as the model without noise.")


def non_adaptive(what: str = "attack", defense: str = "A defense that keeps its accuracy") -> Verdict:
    """The caution every page that evaluates defenses against a non-adaptive attacker prints."""
    return Verdict(NOT_ADAPTIVE, CAUTION,
                   f"⚠️ **Non-adaptive attacker**: the {what} saw only the undefended model. {defense} here is *not* "
                   "shown to be robust; switch on the adaptive attacker.")


def worst_tone(verdicts: list[Verdict]) -> Tone:
    """The colour of a box that lists several verdicts: red if any is red, else yellow if any is,
    else green if any is, else neutral."""
    tones = {v.tone for v in verdicts}
    for t in (BAD, CAUTION, GOOD):
        if t in tones:
            return t
    return NEUTRAL


__all__ = ["ABSTAINS", "ALREADY_WRONG", "BAD", "BROKE", "BROKE_BELOW", "CAUTION", "CERTIFIED", "CERTIFIED_OTHER",
           "CHANGE_MARGIN", "DAMAGED", "NOT_ADAPTIVE", "certificate", "non_adaptive",
           "DEGENERATE", "FLIPPED", "GETS_THROUGH", "GOOD", "HELD", "HELD_NARROWLY", "HOLDS", "LOW_CLEAN_MIOU",
           "NARROW_BELOW", "NEAR_CHANCE", "NEAR_CHANCE_FACTOR", "NEUTRAL", "NOT_JUDGED", "NOT_REACHED",
           "NO_DIFFERENCE", "ONE_CLASS_SHARE", "PARTLY_RESTORED", "RESTORED", "SUCCEEDED", "SURVIVED",
           "SURVIVED_AT", "Tone", "UNSURE", "UNSURE_BELOW", "Verdict", "WORSE", "WORSE_MARGIN", "attack_outcome",
           "chance_level", "classification", "classifier_input", "defended_classifier", "defense_change",
           "kept_share", "label_map_attack", "mask_attack", "model_accuracy", "near_chance", "person_mask_input",
           "segmenter_input", "worst_tone"]
