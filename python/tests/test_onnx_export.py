"""The exporter: the ai.rff::RffConv node and its function, the standard-op chain, metadata."""

import onnx
import torch
from torch import nn

from rffconv.layers import RffConv2d
from rffconv.onnx_export import DOMAIN, OP_TYPE, export, rffconv_function


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(RffConv2d(1, 6, 3, sigma=1.5, padding=1, seed=2), nn.MaxPool2d(2),
                         RffConv2d(6, 8, 3, sigma=2.0, padding=1, stride=2, seed=3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3))


def test_custom_form_writes_one_node_per_layer_and_the_function(tmp_path):
    proto = export(small_model(), torch.zeros(1, 1, 16, 16), str(tmp_path / "m.onnx"), metadata={"labels": "a,b,c"})
    nodes = [n for n in proto.graph.node if n.domain == DOMAIN and n.op_type == OP_TYPE]
    assert len(nodes) == 2
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[1].attribute}
    assert attributes["strides"] == [2, 2] and attributes["pads"] == [1, 1, 1, 1] and abs(attributes["sigma"] - 2.0) < 1e-6
    assert [f.name for f in proto.functions] == [OP_TYPE]
    assert proto.functions[0] == rffconv_function()
    assert any(o.domain == DOMAIN and o.version == 1 for o in proto.opset_import)
    assert {p.key: p.value for p in proto.metadata_props}["labels"] == "a,b,c"
    onnx.checker.check_model(proto)


def test_chain_form_writes_standard_ops_only(tmp_path):
    proto = export(small_model(), torch.zeros(1, 1, 16, 16), str(tmp_path / "m.onnx"), rff_form="chain", opset=13, do_constant_folding=False)
    assert all(n.domain in ("", "ai.onnx") for n in proto.graph.node)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Cos") == 2 and "Conv" in ops
    assert not proto.functions


def test_export_restores_the_layers_form_and_training_mode(tmp_path):
    model = small_model().train()
    export(model, torch.zeros(1, 1, 16, 16), str(tmp_path / "m.onnx"), rff_form="custom")
    assert model.training
    assert all(m.onnx_form == "chain" for m in model.modules() if isinstance(m, RffConv2d))
