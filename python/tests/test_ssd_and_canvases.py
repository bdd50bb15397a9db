"""Default boxes, box coding and matching, and the detection canvases."""

import numpy as np
import pytest
import torch

from rffconv import ssd
from canvases import CanvasGenerator, THRESHOLD


def test_priors_follow_the_ssd_recipe():
    priors = ssd.priors([(2, 2, [2.0]), (1, 1, [])], 0.2, 0.6)
    assert priors.shape == (2 * 2 * 4 + 1 * 1 * 2, 4)
    first = priors[0].tolist()
    assert np.allclose(first, [0.25, 0.25, 0.2, 0.2])
    assert np.allclose(priors[1].tolist(), [0.25, 0.25, (0.2 * 0.6) ** 0.5, (0.2 * 0.6) ** 0.5], atol=1e-6)
    assert np.allclose(priors[2, 2:].tolist(), [0.2 * 2 ** 0.5, 0.2 / 2 ** 0.5], atol=1e-6)


def test_encode_and_decode_are_inverse():
    priors = ssd.priors([(4, 4, [2.0])], 0.3, 0.6)
    boxes = torch.tensor([[0.1, 0.2, 0.5, 0.7]]).repeat(len(priors), 1)
    assert torch.allclose(ssd.decode(ssd.encode(boxes, priors), priors), boxes, atol=1e-5)


def test_matching_gives_each_object_its_best_prior():
    priors = ssd.priors([(4, 4, [])], 0.25, 0.5)
    boxes = torch.tensor([[0.0, 0.0, 0.25, 0.25], [0.5, 0.5, 1.0, 1.0]])
    classes, _ = ssd.match(boxes, torch.tensor([3, 5]), priors)
    assert set(classes[classes > 0].tolist()) == {4, 6}


def test_batched_matching_equals_matching_each_image():
    priors = ssd.priors([(16, 16, [2.0]), (8, 8, [2.0]), (4, 4, [2.0]), (2, 2, [2.0])], 0.15, 0.75)
    rng = np.random.default_rng(3)
    images = []
    for count in (0, 1, 3, 8, 2):
        corner = rng.uniform(0, 0.8, (count, 2))
        boxes = np.concatenate([corner, corner + rng.uniform(0.02, 0.2, (count, 2))], 1)
        images.append((torch.tensor(boxes, dtype=torch.float32), torch.tensor(rng.integers(0, 10, count))))
    images.append((torch.tensor([[0.1, 0.1, 0.3, 0.3], [0.1, 0.1, 0.3, 0.3]]), torch.tensor([2, 7])))  # one shared best prior
    most = max(len(b) for b, _ in images)
    boxes = torch.zeros(len(images), most, 4)
    labels = torch.zeros(len(images), most, dtype=torch.long)
    valid = torch.zeros(len(images), most, dtype=torch.bool)
    for i, (b, l) in enumerate(images):
        boxes[i, :len(b)], labels[i, :len(b)], valid[i, :len(b)] = b, l, True
    classes, offsets = ssd.match_batch(boxes, labels, valid, priors)
    for i, (b, l) in enumerate(images):
        expected_classes, expected_offsets = ssd.match(b, l, priors)
        assert torch.equal(classes[i], expected_classes)
        positive = expected_classes > 0
        assert torch.allclose(offsets[i][positive], expected_offsets[positive], atol=1e-5)
    assert classes[0].sum() == 0 and (classes[-1] == 8).sum() >= 1


def test_canvases_are_deterministic_with_tight_boxes_of_visible_items():
    rng = np.random.default_rng(0)
    items = rng.integers(0, 255, (20, 28, 28)).astype(np.uint8)
    items[:, :4] = 0
    generator = CanvasGenerator(items, np.arange(20) % 10, size=128, seed=4)
    for index in range(20):
        pixels, boxes, labels = generator.make(index)
        again, _, _ = generator.make(index)
        assert np.array_equal(pixels, again)
        assert 1 <= len(boxes) <= 6 and len(boxes) == len(labels)
        for x0, y0, x1, y1 in boxes:
            assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
            assert pixels[int(y0):int(y1), int(x0):int(x1)].max() > THRESHOLD


def noise_items(count=40, seed=0):
    """Items whose tight box spans the whole scaled width (every column has a bright pixel), so a box's width is the
    side the item was drawn at."""
    rng = np.random.default_rng(seed)
    items = rng.integers(120, 255, (count, 28, 28)).astype(np.uint8)
    return items, np.arange(count) % 10


def test_held_out_scenes_use_sides_and_backgrounds_training_never_draws(monkeypatch):
    import canvases
    kinds = {}
    real = canvases.background

    def recording(rng, size, kinds_=canvases.BACKGROUNDS, **options):
        kinds.setdefault(scene, set()).update(kinds_)
        return real(rng, size, kinds_, **options)

    monkeypatch.setattr(canvases, "background", recording)
    items, labels = noise_items()
    low, high = canvases.HELD_OUT_SIDES
    widths = {}
    for scene in ("training", "held-out", "probe"):
        generator = CanvasGenerator(items, labels, size=128, seed=5, scene=scene)
        widths[scene] = []
        for index in range(150):
            pixels, boxes, found = generator.make(index)
            assert np.array_equal(pixels, generator.make(index)[0])
            assert len(boxes) == len(found) >= (0 if scene == "training" else 2)
            for x0, y0, x1, y1 in boxes:
                assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 128
            widths[scene] += [int(x1 - x0) for x0, _, x1, _ in boxes]
    assert all(low <= w <= high for w in widths["held-out"] + widths["probe"])
    assert not any(low <= w <= high for w in widths["training"])
    assert min(widths["training"]) < low and max(widths["training"]) > high
    assert kinds["held-out"] == set(canvases.HELD_OUT_BACKGROUNDS)
    assert kinds["probe"] == set(canvases.PROBE_BACKGROUNDS)
    assert not kinds["training"] & set(canvases.HELD_OUT_BACKGROUNDS + canvases.PROBE_BACKGROUNDS)


def test_held_out_layouts_overlap_each_item_at_most_as_much_as_training_allows():
    import canvases
    items, labels = noise_items()
    generator = CanvasGenerator(items, labels, size=128, seed=6, scene="held-out")
    for index in range(100):
        _, boxes, _ = generator.make(index)
        squares = [(b[0], b[1], b[2] - b[0]) for b in boxes]
        for i in range(len(squares)):
            for j in range(i):
                assert canvases.overlap(squares[i], squares[j]) <= 0.35


def test_one_background_kind_at_a_time_keeps_the_scenes_layouts(monkeypatch):
    import canvases
    drawn = []
    real = canvases.background
    monkeypatch.setattr(canvases, "background", lambda rng, size, kinds=canvases.BACKGROUNDS, **o: drawn.append(kinds) or real(rng, size, kinds, **o))
    items, labels = noise_items()
    mosaic = CanvasGenerator(items, labels, size=128, seed=7, scene="probe", backgrounds=("mosaic",))
    low, high = canvases.HELD_OUT_SIDES
    for index in range(20):
        _, boxes, found = mosaic.make(index)  # the probe scene's layouts and sizes, on the mosaic only
        assert len(found) >= 2 and all(low <= x1 - x0 <= high for x0, _, x1, _ in boxes)
    assert set(drawn) == {("mosaic",)}
    with pytest.raises(ValueError):
        CanvasGenerator(items, labels, scene="training", backgrounds=("checker",))
