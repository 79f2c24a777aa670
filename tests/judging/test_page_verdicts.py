"""core.judging.pages: every rule on hand-made numbers at and around its threshold."""
from __future__ import annotations

import pytest

from core.judging import pages as pv

EPS = 1e-6


@pytest.mark.parametrize("iou,word,tone", [
    (1.0, pv.SURVIVED, pv.GOOD), (pv.SURVIVED_AT, pv.SURVIVED, pv.GOOD), (pv.SURVIVED_AT - EPS, pv.DAMAGED, pv.BAD),
    (0.51, pv.DAMAGED, pv.BAD),  # the case: IoU 0.51 is not "survived"
    (pv.BROKE_BELOW, pv.DAMAGED, pv.BAD), (pv.BROKE_BELOW - EPS, pv.BROKE, pv.BAD), (0.0, pv.BROKE, pv.BAD)])
def test_mask_attack_thresholds(iou, word, tone):
    v = pv.mask_attack(iou, pixels_flipped=17272, pixel_accuracy=0.73, person_share=0.3)
    assert (v.word, v.tone) == (word, tone)
    shown = f"{iou:.2f}" if abs(iou - round(iou, 2)) < 1e-9 else pv._num(iou, pv.SURVIVED_AT, pv.BROKE_BELOW)
    assert shown in v.sentence and "17,272" in v.sentence and "73%" in v.sentence  # the numbers in the sentence
    assert (float(shown) >= pv.SURVIVED_AT) == (iou >= pv.SURVIVED_AT)  # never rounded across a threshold


@pytest.mark.parametrize("share,degenerate", [(0.0, True), (0.01, True), (0.0101, False), (0.5, False),
                                              (0.9899, False), (0.99, True), (1.0, True)])
def test_person_mask_degenerate(share, degenerate):
    v = pv.mask_attack(1.0, person_share=share)
    assert (v.word == pv.DEGENERATE) == degenerate
    assert (v.tone == pv.NEUTRAL) == degenerate  # never green on an empty mask


@pytest.mark.parametrize("before,after,word,tone", [
    (0.4, 0.4 + pv.CHANGE_MARGIN, pv.NO_DIFFERENCE, pv.BAD),
    (0.4, 0.4 + pv.CHANGE_MARGIN + 0.01, pv.PARTLY_RESTORED, pv.BAD),  # 0.46: still broken
    (0.4, 0.6, pv.PARTLY_RESTORED, pv.CAUTION),
    (0.4, pv.SURVIVED_AT, pv.RESTORED, pv.GOOD),
    (0.4, pv.SURVIVED_AT - EPS, pv.PARTLY_RESTORED, pv.CAUTION),
    (0.9, 0.9 - pv.WORSE_MARGIN, pv.NO_DIFFERENCE, pv.GOOD),
    (0.9, 0.9 - pv.WORSE_MARGIN - 0.001, pv.WORSE, pv.BAD),
    (0.5, 0.5 - pv.WORSE_MARGIN + 0.001, pv.NO_DIFFERENCE, pv.BAD)])
def test_defense_change(before, after, word, tone):
    v = pv.defense_change(before, after)
    assert (v.word, v.tone) == (word, tone)
    assert f"{before:.2f} → {after:.2f}" in v.sentence


def test_defense_change_says_when_the_attacker_ignored_it():
    v = pv.defense_change(0.3, 0.95, ignored_defense=True)
    assert "ignored the defense" in v.sentence and v.tone == pv.CAUTION  # not green: not yet shown robust
    v = pv.defense_change(0.3, 0.95)
    assert "ignored" not in v.sentence and v.tone == pv.GOOD


@pytest.mark.parametrize("clean,adv,word", [
    (0.9, 0.9 * pv.SURVIVED_AT, pv.SURVIVED), (0.9, 0.9 * pv.SURVIVED_AT - 0.001, pv.DAMAGED),
    (0.9, 0.9 * pv.BROKE_BELOW, pv.DAMAGED), (0.9, 0.9 * pv.BROKE_BELOW - 0.001, pv.BROKE),
    (1.0, 1.0, pv.SURVIVED)])
def test_label_map_attack_share_kept(clean, adv, word):
    v = pv.label_map_attack(clean, adv, against_truth=True, top_class_share=0.6, top_class_name="background")
    assert v.word == word
    assert f"{clean:.2f} → **{adv:.2f}**" in v.sentence


def test_degenerate_segmenter_is_neutral_not_green():
    # A random-weight segmenter predicting one class everywhere on a photo: reference = its own clean
    # map, so the mIoU reads 1.00 → 1.00; the verdict must not be "survived".
    v = pv.label_map_attack(1.0, 1.0, against_truth=False, top_class_share=1.0, top_class_name="aeroplane")
    assert (v.word, v.tone) == (pv.DEGENERATE, pv.NEUTRAL) and not v.judged
    assert "aeroplane" in v.sentence and "100.0%" in v.sentence
    assert pv.label_map_attack(1.0, 1.0, False, pv.ONE_CLASS_SHARE - EPS, "x").word == pv.SURVIVED


@pytest.mark.parametrize("miou,truth,word", [
    (0.23, True, pv.ALREADY_WRONG),  # the garment scene
    (pv.LOW_CLEAN_MIOU - EPS, True, pv.ALREADY_WRONG), (pv.LOW_CLEAN_MIOU, True, pv.SURVIVED),
    (0.23, False, pv.SURVIVED)])  # against its own prediction there is no ground truth to be wrong about
def test_segmenter_already_wrong(miou, truth, word):
    v = pv.label_map_attack(miou, miou, against_truth=truth, top_class_share=0.5, top_class_name="bg")
    assert v.word == word
    assert (v.tone == pv.NEUTRAL) == (word == pv.ALREADY_WRONG)


def _cls(clean_prob=0.9, clean_correct=True, adv_correct=True, p_adv=0.9, n=10):
    return pv.classification("Coat", "Coat" if clean_correct else "Shirt", clean_prob, clean_correct,
                             "Coat" if adv_correct else "Pullover", adv_correct, p_adv, n)


def test_classification_held_flipped_narrow():
    assert _cls().word == pv.HELD and _cls().tone == pv.GOOD
    assert _cls(p_adv=pv.NARROW_BELOW).word == pv.HELD
    v = _cls(p_adv=0.38)  # the "held at 38 %"
    assert (v.word, v.tone) == (pv.HELD_NARROWLY, pv.CAUTION) and "38%" in v.sentence
    assert _cls(p_adv=pv.NARROW_BELOW - EPS).word == pv.HELD_NARROWLY
    v = _cls(adv_correct=False, p_adv=0.1)
    assert (v.word, v.tone) == (pv.FLIPPED, pv.BAD) and "Pullover" in v.sentence


def test_classification_unfit_inputs_are_neutral():
    v = _cls(clean_correct=False, adv_correct=False)
    assert (v.word, v.tone) == (pv.ALREADY_WRONG, pv.NEUTRAL)
    # 10 classes: near chance below 20 %
    assert _cls(clean_prob=2 / 10 - EPS).word == pv.NEAR_CHANCE
    assert _cls(clean_prob=2 / 10).word == pv.HELD
    # 1000 classes: near chance below 0.2 %, unsure below 20 %
    assert _cls(clean_prob=0.03, n=1000).word == pv.UNSURE
    assert _cls(clean_prob=0.0019, n=1000).word == pv.NEAR_CHANCE
    assert _cls(clean_prob=pv.UNSURE_BELOW, n=1000).word == pv.HELD
    assert all(_cls(clean_prob=p, n=1000).tone == pv.NEUTRAL for p in (0.001, 0.1, pv.UNSURE_BELOW - EPS))


def test_model_near_chance():
    assert pv.model_accuracy("m", 0.03, 1000) is None  # 30× chance
    assert pv.model_accuracy("m", 0.19, 10).word == pv.NEAR_CHANCE
    assert pv.model_accuracy("m", 0.2, 10) is None
    v = pv.model_accuracy("setting B", 0.001, 1000)
    assert v.tone == pv.NEUTRAL and "0.1%" in v.sentence


def test_attack_outcome_colours():
    assert pv.attack_outcome("PGD", True, "any wrong class", "cup", "bowl").tone == pv.BAD
    assert pv.attack_outcome("PGD", False, "any wrong class", "cup", "cup").tone == pv.GOOD
    unfit = pv.classifier_input("cup", "bowl", 0.5, False, 1000)
    v = pv.attack_outcome("PGD", True, "any wrong class", "bowl", "plate", unfit)
    assert v.tone == pv.NEUTRAL and "succeeded" in v.sentence and "already wrong" in v.sentence


@pytest.mark.parametrize("kw,word,tone", [
    (dict(bare_fooled=True), pv.RESTORED, pv.GOOD),
    (dict(bare_fooled=False), pv.HOLDS, pv.GOOD),
    (dict(def_adv_meets_goal=True), pv.GETS_THROUGH, pv.BAD),
    (dict(def_clean_correct=False), pv.ALREADY_WRONG, pv.NEUTRAL),
    (dict(def_clean_abstains=True), pv.ABSTAINS, pv.NEUTRAL),
    (dict(def_adv_abstains=True), pv.ABSTAINS, pv.CAUTION),
    (dict(worse_than_none=True, p_label_def=0.31, p_label_bare=0.6), pv.WORSE, pv.BAD)])
def test_defended_classifier(kw, word, tone):
    args = dict(defense="JPEG", label_name="cup", bare_fooled=True, def_clean_correct=True, def_clean_abstains=False,
                def_adv_meets_goal=False, def_adv_abstains=False, worse_than_none=False)
    v = pv.defended_classifier(**{**args, **kw})
    assert (v.word, v.tone) == (word, tone)


def test_worst_tone():
    g, b, n, c = (pv.Verdict("w", t, "") for t in (pv.GOOD, pv.BAD, pv.NEUTRAL, pv.CAUTION))
    assert pv.worst_tone([g, n]) == pv.GOOD and pv.worst_tone([g, c]) == pv.CAUTION
    assert pv.worst_tone([g, c, b]) == pv.BAD and pv.worst_tone([n]) == pv.NEUTRAL


def test_fewshot_input_names_the_models_already_wrong():
    from core.judging import pages as pv

    assert pv.fewshot_input({"R-PNODE": 0.78, "CNN": pv.LOW_CLEAN_MIOU}) is None  # at the threshold: judged
    v = pv.fewshot_input({"R-PNODE": 0.78, "CNN": pv.LOW_CLEAN_MIOU - 0.01})
    assert v.word == pv.ALREADY_WRONG and v.tone == pv.NEUTRAL
    assert "CNN (clean Dice 0.49)" in v.sentence and "R-PNODE" not in v.sentence


# ---------------------------------------------------------------- certificates (Certify page)
def test_certificate_same_class_is_green_with_its_numbers():
    v = pv.certificate(3, "cat", "cat", "cat", 990, 1000, 0.982, 0.517)
    assert (v.word, v.tone) == (pv.CERTIFIED, pv.GOOD)
    assert "0.517" in v.sentence and "990/1000" in v.sentence and "0.982" in v.sentence


def test_certificate_of_another_class_than_the_clean_model_is_a_caution():
    v = pv.certificate(3, "cat", "cat", "dog", 990, 1000, 0.982, 0.517)
    assert (v.word, v.tone) == (pv.CERTIFIED_OTHER, pv.CAUTION)
    assert "“dog”" in v.sentence and "smaller σ" in v.sentence


def test_certificate_abstention_is_a_caution_not_a_certificate():
    v = pv.certificate(-1, "", "cat", "cat", 480, 1000, 0.449, 0.0)
    assert (v.word, v.tone) == (pv.ABSTAINS, pv.CAUTION)
    assert "radius" in v.sentence and "certified" in v.sentence and "within" not in v.sentence


def test_non_adaptive_caution_names_the_attacker_and_the_defense_phrase():
    v = pv.non_adaptive("attacks", "A defense whose curve stays high")
    assert (v.word, v.tone) == (pv.NOT_ADAPTIVE, pv.CAUTION)
    assert "the attacks saw only the undefended model. A defense whose curve stays high here" in v.sentence


def test_numbers_never_round_onto_the_other_side_of_their_threshold():
    v = pv.fewshot_input({"CNN": 0.497, "R-PNODE": 0.61})
    assert "0.497" in v.sentence and "0.50)" not in v.sentence and "R-PNODE" not in v.sentence
    assert "**0.799**" in pv.mask_attack(0.799).sentence  # damaged, not "0.80"
    assert "**0.81**" in pv.mask_attack(0.81).sentence
    assert "0.4999" in pv.segmenter_input(0.3, "background", 0.4999, against_truth=True).sentence
