"""The detector trainer's warm start: an exported detector loads back into the torch model it came from."""

import numpy as np
import torch

from rffconv.models import RffSsd
from rffconv.onnx_export import export
from train_detector import init_from_onnx


def test_a_warm_start_from_an_export_reproduces_the_exported_model(tmp_path):
    torch.manual_seed(0)
    kwargs = dict(classes=3, size=64, stem=6, widths=[8, 8, 8, 8, 8, 8], sigma=2.0)
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
