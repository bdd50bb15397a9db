"""The detector trainer's warm starts (an exported detector, or a state.npz, loads back into the torch model it came
from), its clock-driven schedule, its oversampling of chosen classes and its seed of the training canvases."""

import argparse

import numpy as np
import pytest
import torch

import train_detector
from rffconv.models import RffSsd
from rffconv.onnx_export import export
from test_train_classifier import tiny_data
from train_detector import class_factors, init_from_onnx, load_state, one_cycle, oversampled, parse, save_state


@pytest.mark.parametrize("extra_blocks", [0, 1])
def test_a_warm_start_from_an_export_reproduces_the_exported_model(tmp_path, extra_blocks):
    torch.manual_seed(0)
    kwargs = dict(classes=3, size=64, stem=6, widths=[8, 8, 8, 8, 8, 8], sigma=2.0, extra_blocks=extra_blocks)
    trained = RffSsd(seed=1, **kwargs)
    optimizer = torch.optim.SGD(trained.parameters(), lr=0.05)
    x = torch.randn(16, 1, 64, 64)
    for _ in range(3):  # batch statistics and weights away from their initial values
        scores, boxes = trained(x)
        loss = scores.square().mean() + boxes.square().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trained.eval()
    path = str(tmp_path / "detector.onnx")
    export(trained, torch.zeros(1, 1, 64, 64), path, input_names=["input"], output_names=["scores", "boxes"],
           dynamic_axes={"input": {0: "batch"}})

    fresh = RffSsd(seed=7, **kwargs)
    calibration = torch.randn(32, 1, 64, 64)
    init_from_onnx(fresh, path, calibration)
    probe = torch.randn(4, 1, 64, 64)
    with torch.no_grad():
        expected = trained(probe)
        fresh.eval()
        found = fresh(probe)
        assert torch.allclose(fresh.stem[0].sigma, trained.stem[0].sigma)
        for e, f in zip(expected, found):
            assert torch.allclose(e, f, atol=1e-4), float((e - f).abs().max())
        # In training mode on the calibration batch, batch statistics are the restored ones: the same function.
        fresh.train()
        on_calibration = fresh(calibration)
        trained_on_calibration = trained(calibration)
    for e, f in zip(trained_on_calibration, on_calibration):
        assert np.allclose(e.numpy(), f.numpy(), atol=1e-3)


def test_a_saved_state_loads_back_exactly(tmp_path):
    kwargs = dict(classes=3, size=64, stem=6, widths=[8, 8, 8, 8, 8, 8], sigma=2.0, extra_blocks=1)
    trained = RffSsd(seed=1, **kwargs)
    trained(torch.randn(8, 1, 64, 64))  # training-mode batch statistics move the running ones
    path = str(tmp_path / "state.npz")
    save_state(path, trained)
    fresh = RffSsd(seed=7, **kwargs)
    load_state(path, fresh)
    probe = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        for e, f in zip(trained.eval()(probe), fresh.eval()(probe)):
            assert torch.equal(e, f)


def test_the_clock_driven_schedule_is_one_cycle():
    optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=2e-3)
    steps = 400
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 2e-3, total_steps=steps, pct_start=0.05)
    warm_up = (0.05 * steps - 1) / (steps - 1)  # OneCycleLR's warm-up ends one step early: a count artifact, not a shape
    for step in range(steps):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(2e-3 * one_cycle(step / (steps - 1), warm_up), rel=1e-6, abs=1e-12)
        optimizer.step()
        schedule.step()


def test_oversampling_repeats_the_items_of_the_named_classes_only():
    labels = np.array([0, 1, 2, 1, 0, 2])
    items = np.array([5, 4, 1, 0])  # labels 2, 0, 1, 0
    drawn = oversampled(items, labels, ["a", "b", "c"], {"c": 3, "b": 2})
    assert sorted(drawn.tolist()) == [0, 1, 1, 4, 5, 5, 5]
    assert oversampled(items, labels, ["a", "b", "c"], {}).tolist() == items.tolist()
    with pytest.raises(ValueError, match="no class named"):
        oversampled(items, labels, ["a", "b", "c"], {"Shirt": 2})


def test_the_oversample_option_reads_class_names_with_slashes_and_rejects_bad_factors():
    assert parse(["--oversample", "Shirt=3,T-shirt/top=2"]).oversample == {"Shirt": 3, "T-shirt/top": 2}
    assert parse([]).oversample == {}
    for bad in ("Shirt", "Shirt=0", "Shirt=1.5", "=2"):
        with pytest.raises(argparse.ArgumentTypeError):
            class_factors(bad)


def test_the_canvas_seed_changes_the_training_canvases_and_nothing_that_is_evaluated(tmp_path, monkeypatch):
    data = str(tmp_path / "data")
    tiny_data(data)
    seen = {}
    to_batch, evaluate = train_detector.to_batch, train_detector.evaluate

    def recording_to_batch(canvases, size):
        seen["trained"].append(np.stack([c[0] for c in canvases]))
        return to_batch(canvases, size)

    def recording_evaluate(model, canvases, *rest, **named):
        seen["evaluated"].append(np.stack([c[0] for c in canvases]))
        return evaluate(model, canvases, *rest, **named)

    monkeypatch.setattr(train_detector, "to_batch", recording_to_batch)
    monkeypatch.setattr(train_detector, "evaluate", recording_evaluate)

    def run(name, *extra):
        seen.update(trained=[], evaluated=[])
        train_detector.main(["--data", data, "--out", str(tmp_path / name), "--stem", "4", "--widths", "4,4,4,4,4,4",
                             "--steps", "2", "--batch", "2", "--validation-items", "16", "--validation-canvases", "2",
                             "--test-canvases", "2", "--evaluate-every", "100", "--threads", "1", "--no-export", *extra])
        return np.concatenate(seen["trained"]), np.concatenate(seen["evaluated"])

    trained, evaluated = run("default")
    same_trained, same_evaluated = run("seed-1", "--canvas-seed", "1")
    other_trained, other_evaluated = run("seed-5", "--canvas-seed", "5")
    assert np.array_equal(trained, same_trained) and np.array_equal(evaluated, same_evaluated)
    assert not np.array_equal(trained, other_trained)
    assert np.array_equal(evaluated, other_evaluated)
