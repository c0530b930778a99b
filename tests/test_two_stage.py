"""Two-stage image matching at small scale: every alteration class, thresholds, live index."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from bench.imageset import ALTERATIONS, HARD_ALTERATIONS, encode, page_canvas
from matching import local_features
from matching.image import OrbSignal, PHashSignal
from matching.local_features import LocalFeatures, fit_placement
from matching.match_index import MatchIndex
from matching.signal import ContentSkipped
from matching.stages import (
    first_stage_matches,
    first_stage_queries,
    match_content,
    needs_later_stages,
    registration_fingerprints,
)
from swordnet.demo.samples import artwork, sample_files

# What stage 1 (pHash) cannot settle and stage 2 (ORB) must.
STAGE_2_ALTERATIONS = {"crop_75", "border_10", "rotate_5", "embed_60"}
WORKS = sample_files()[:3]


def register(index: MatchIndex, work_id: int, content: bytes,
             thresholds: dict[str, float] | None = None) -> None:
    for algorithm, variant, value in registration_fingerprints("image", content):
        index.add(len(index) + 1, work_id, algorithm, value, variant=variant,
                  threshold=(thresholds or {}).get(algorithm))


@pytest.fixture(scope="module")
def index() -> MatchIndex:
    built = MatchIndex()
    for work_id, (path, _) in enumerate(WORKS, start=1):
        register(built, work_id, path.read_bytes())
    return built


@pytest.mark.parametrize("alteration", sorted(ALTERATIONS))
def test_every_alteration_class_is_found_and_says_how(index: MatchIndex, alteration: str) -> None:
    for work_id, (path, _) in enumerate(WORKS, start=1):
        copy = ALTERATIONS[alteration](Image.open(path).convert("RGB"),
                                       random.Random(f"{alteration}/{work_id}"))
        matches = match_content(index, "image", encode(copy))
        assert [m.work_id for m in matches] == [work_id], (alteration, path.name)
        [match] = matches
        if alteration in STAGE_2_ALTERATIONS:
            assert (match.stage, match.algorithm) == (2, "orb")
            assert match.score >= OrbSignal.default_threshold
            assert match.detail["inliers"] == match.score
            assert {"scale", "rotation_deg", "work_coverage"} <= set(match.detail)
        if alteration == "mirror":
            assert (match.stage, match.variant) == (1, "mirrored")
        if alteration == "rotate_5":
            assert abs(abs(match.detail["rotation_deg"]) - 5) < 1.5
        if alteration == "embed_60":  # the work fills 60% of a 1024 px page, seen at 800 px
            assert 0.35 < match.detail["scale"] / (800 / 640) < 0.85


@pytest.mark.parametrize("alteration", ["mirror_crop_75", "embed_30", "embed_40"])
def test_hard_copies_are_found_by_stage_2(index: MatchIndex, alteration: str) -> None:
    """Mirrored and cropped (the mirrored view), at 30-40% of a text-heavy page screenshot's
    width (keypoints spread over the page instead of spent on its text)."""
    for work_id, (path, _) in enumerate(WORKS, start=1):
        copy = HARD_ALTERATIONS[alteration](Image.open(path).convert("RGB"),
                                            random.Random(f"{alteration}/{work_id}"))
        matches = match_content(index, "image", encode(copy))
        assert [(m.work_id, m.stage) for m in matches] == [(work_id, 2)], (alteration, path.name)
        assert matches[0].score >= OrbSignal.default_threshold


def _real_mirror_view(gray: Image.Image, side: int, features: int) -> LocalFeatures:
    """ORB run afresh on the mirror image, spread as a query's views are (the reference)."""
    mirrored = local_features.reduce(ImageOps.mirror(gray), side)
    orb = cv2.ORB.create(nfeatures=features * local_features.SPREAD_OVERSAMPLING,
                         fastThreshold=local_features.FAST_THRESHOLD)
    detected = orb.detect(mirrored, None)
    quotas = local_features._level_quotas(features, orb.getNLevels(), orb.getScaleFactor())
    kept = local_features._spread(*local_features._keypoint_arrays(detected),
                                  (mirrored.shape[1], mirrored.shape[0]),
                                  local_features.SPREAD_CELLS, quotas)
    return local_features._described(orb, mirrored, [detected[i] for i in kept.tolist()])


@pytest.mark.parametrize("seed", [3, 4])
def test_the_mirrored_view_is_what_orb_finds_on_the_mirror_image(seed: int) -> None:
    """The query's mirrored view reuses the copy's keypoint detection: its keypoints and
    descriptors must be those of a detection on the mirror image itself (all but the few
    that a tie between equal corners swaps)."""
    gray = artwork(seed).convert("L")
    _, view = local_features.extract_spread_and_mirror(gray, 640, 2000, 1000)
    real = _real_mirror_view(gray, 640, 1000)
    assert abs(len(view) - len(real)) <= 2
    apart = np.hypot(*(view.points[:, None, :] - real.points[None, :, :]).transpose(2, 0, 1))
    nearest, same_spot = apart.argmin(axis=1), apart.min(axis=1) < 0.5
    bits = np.unpackbits(view.descriptors[same_spot] ^ real.descriptors[nearest[same_spot]],
                         axis=1).sum(axis=1)
    assert same_spot.mean() > 0.85
    assert np.median(bits) == 0 and bits.mean() < 4  # a wrong orientation differs by ~100


def test_unrelated_pictures_small_in_a_screenshot_or_mirrored_match_nothing(
    index: MatchIndex,
) -> None:
    for seed in range(6200, 6215):
        picture = artwork(seed)
        for alteration in ("mirror_crop_75", "embed_30", "screen_photo"):
            copy = HARD_ALTERATIONS[alteration](picture, random.Random(seed))
            assert match_content(index, "image", encode(copy)) == [], (seed, alteration)


def test_unrelated_images_and_screenshots_match_nothing(index: MatchIndex) -> None:
    for seed in range(6000, 6040):
        assert match_content(index, "image", encode(artwork(seed))) == []
        assert match_content(index, "image", encode(page_canvas(1024, 768,
                                                                random.Random(seed)))) == []


def test_a_per_work_threshold_overrides_the_default_for_stage_2() -> None:
    path, _ = WORKS[0]
    copy = encode(ALTERATIONS["crop_75"](Image.open(path).convert("RGB"), random.Random(1)))
    lenient = MatchIndex()
    register(lenient, 1, path.read_bytes())
    [found] = match_content(lenient, "image", copy)
    demanding = MatchIndex()  # demand more inliers than this copy has
    register(demanding, 1, path.read_bytes(), thresholds={"orb": found.score + 1})
    assert match_content(demanding, "image", copy) == []
    register(demanding, 2, path.read_bytes(), thresholds={"orb": found.score})
    assert [m.work_id for m in match_content(demanding, "image", copy)] == [2]


def test_stage_2_index_adds_and_removes_works_live() -> None:
    index = MatchIndex()
    (first, _), (second, _) = WORKS[:2]
    copy_of = {work_id: encode(ALTERATIONS["rotate_5"](Image.open(path).convert("RGB"),
                                                        random.Random(work_id)))
               for work_id, path in ((1, first), (2, second))}
    register(index, 1, first.read_bytes())
    assert [m.work_id for m in match_content(index, "image", copy_of[1])] == [1]
    assert match_content(index, "image", copy_of[2]) == []
    register(index, 2, second.read_bytes())  # matchable at once, no rebuild call
    assert [m.work_id for m in match_content(index, "image", copy_of[2])] == [2]
    index.remove_work(1)
    assert match_content(index, "image", copy_of[1]) == []
    assert [m.work_id for m in match_content(index, "image", copy_of[2])] == [2]


def test_orb_fingerprints_round_trip_and_malformed_values_are_refused() -> None:
    path, _ = WORKS[0]
    value = OrbSignal.fingerprint(path.read_bytes())
    assert OrbSignal.validate(value) == value
    assert OrbSignal.score(value, value) >= 100  # a work verifies against itself
    for bad in ("", "not base64!", "aGVsbG8="):
        with pytest.raises(ValueError, match="not an encoded ORB feature set"):
            OrbSignal.validate(bad)


def test_the_same_photo_registered_by_two_holders_is_found_for_both() -> None:
    path, _ = WORKS[0]
    index = MatchIndex()
    register(index, 1, path.read_bytes())
    register(index, 2, path.read_bytes())  # identical descriptors: must not cancel out
    for alteration in ("crop_75", "embed_60"):
        copy = encode(ALTERATIONS[alteration](Image.open(path).convert("RGB"),
                                              random.Random(alteration)))
        matches = match_content(index, "image", copy)
        assert sorted(m.work_id for m in matches) == [1, 2]
        assert matches[0].score == matches[1].score  # verified per work, exactly the same


def test_marginal_stage_1_matches_stand_only_if_stage_2_confirms_them() -> None:
    (path, _), (other, _) = WORKS[0], WORKS[1]
    copy = encode(ALTERATIONS["watermark"](Image.open(path).convert("RGB"), random.Random(3)))
    copy_hash = int(PHashSignal.fingerprint(copy), 16)
    marginal = f"{copy_hash ^ 0xFF:016x}"  # 8 bits away: inside 12, beyond the sure 2
    # 4-6 bits is where unrelated photographs meet among 10^5 registered ones: not sure
    assert not PHashSignal.is_sure(8) and not PHashSignal.is_sure(3) and PHashSignal.is_sure(2)
    index = MatchIndex()
    index.add(1, 1, "phash", marginal)  # the copy's own work: stage 2 confirms it
    index.add(2, 1, "orb", OrbSignal.fingerprint(path.read_bytes()))
    index.add(3, 2, "phash", marginal)  # an unrelated work: stage 2 refutes it
    index.add(4, 2, "orb", OrbSignal.fingerprint(other.read_bytes()))
    index.add(5, 3, "phash", marginal)  # no stage-2 fingerprint to ask: kept, flagged
    matches = {m.work_id: m for m in match_content(index, "image", copy)}
    assert sorted(matches) == [1, 3]
    assert matches[1].stage == 1 and matches[1].score == 8
    assert matches[1].detail["confirmed_by"]["algorithm"] == "orb"
    assert matches[1].detail["confirmed_by"]["inliers"] >= OrbSignal.default_threshold
    assert matches[3].detail == {"unconfirmed": True}
    index.add(6, 4, "phash", f"{copy_hash ^ 0b11:016x}")  # 2 bits: sure, no stage 2 needed
    assert needs_later_stages(index.match("phash", f"{copy_hash:016x}"))  # marginal ones
    sure = [m for m in index.match("phash", f"{copy_hash:016x}") if m.work_id == 4]
    assert not needs_later_stages(sure)


def _dark_field_with_a_blob(seed: int) -> Image.Image:
    """Faint specks (placed by ``seed``) on a dark field, one bright blob near the lower right
    corner: the same coarse layout for every seed, different content."""
    rnd = random.Random(seed)
    image = Image.new("L", (640, 480), 12)
    draw = ImageDraw.Draw(image)
    for _ in range(400):
        x, y, side = rnd.randrange(640), rnd.randrange(480), rnd.randrange(2, 6)
        draw.rectangle((x, y, x + side, y + side), fill=rnd.randrange(30, 60))
    draw.ellipse((520, 340, 600, 420), fill=230)
    return image.convert("RGB")


def test_a_plain_copy_is_not_taken_for_another_work_of_the_same_layout() -> None:
    """In a large registry a plain image shares its pHash with others: stage 2 must decide."""
    index = MatchIndex()
    register(index, 1, encode(_dark_field_with_a_blob(1)))
    register(index, 2, encode(_dark_field_with_a_blob(2)))
    copy = encode(_dark_field_with_a_blob(1).resize((480, 360)), 70)
    first = first_stage_matches(index, first_stage_queries("image", copy))
    assert sorted(m.work_id for m in first) == [1, 2]  # both within the sure pHash distance
    assert all(PHashSignal.is_sure(m.score) for m in first)
    matches = match_content(index, "image", copy)
    assert [m.work_id for m in matches] == [1]
    assert matches[0].detail["low_detail"] is True
    assert matches[0].detail["confirmed_by"]["algorithm"] == "orb"


def test_a_plain_copy_stage_2_cannot_place_keeps_its_close_match(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too small or plain for stage 2 to place any work: nothing refutes the close match."""
    def skipped(_content: bytes) -> None:
        raise ContentSkipped("featureless image")

    index = MatchIndex()
    register(index, 1, encode(_dark_field_with_a_blob(1)))
    monkeypatch.setattr(OrbSignal, "query_value", staticmethod(skipped))
    [match] = match_content(index, "image", encode(_dark_field_with_a_blob(1), 70))
    assert (match.work_id, match.detail) == (1, {"low_detail": True})


def test_a_detailed_copy_close_to_its_work_is_settled_by_stage_1(index: MatchIndex) -> None:
    path, _ = WORKS[0]
    copy = encode(ALTERATIONS["jpeg_q70"](Image.open(path).convert("RGB"), random.Random(1)))
    first = first_stage_matches(index, first_stage_queries("image", copy))
    assert [(m.work_id, m.detail) for m in first] == [(1, {})]
    assert not needs_later_stages(first)


def test_a_later_stage_quality_skip_is_no_match_not_an_error(
    index: MatchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stage 2 decodes larger than stage 1; a borderline gate call there must not fail."""
    def skipped(_content: bytes) -> None:
        raise ContentSkipped("near-blank image (contrast 4.0 < 4.0)")

    monkeypatch.setattr(OrbSignal, "query_value", staticmethod(skipped))
    assert match_content(index, "image", encode(artwork(6100))) == []


def _pairs(spots: list[tuple[float, float]], per_spot: int) -> tuple[np.ndarray, np.ndarray]:
    """Work points clustered on ``spots`` and their exact images under a similarity."""
    rng = np.random.default_rng(5)
    work = np.array([(x + rng.uniform(-1, 1), y + rng.uniform(-1, 1))
                     for x, y in spots for _ in range(per_spot)], np.float32)
    angle, scale = np.radians(20), 0.7
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return work, (work @ rotation.T + [40, 25]).astype(np.float32)


def test_agreement_piled_on_a_few_spots_of_the_work_is_not_a_placement() -> None:
    work = LocalFeatures(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8), 640, 480)
    piled = _pairs([(100, 100), (300, 120), (200, 400)], per_spot=4)  # 12 on 3 spots
    assert fit_placement(*piled, work, 10) is None
    spread = _pairs([(60 * i + 30, 40 * (i % 5) + 50) for i in range(10)], per_spot=2)
    placement = fit_placement(*spread, work, 10)
    assert placement is not None and placement.inliers == 20
    assert abs(placement.rotation_deg - 20) < 1 and abs(placement.scale - 0.7) < 0.01

