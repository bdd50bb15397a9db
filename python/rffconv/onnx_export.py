"""Exports PyTorch models with RffConv2d layers to ONNX.

Each RffConv2d becomes one ``ai.rff::RffConv`` node (version 1), and the model carries the operator's definition as a
model-local ONNX function built from standard ops, so any ONNX Runtime build runs it. The definition is the one
RffService's C# graph builder writes (``RffConvOperator.CreateFunction``): Constant(sigma) -> Div(W) -> Conv(X, W / sigma, B)
-> Cos -> Constant(scale) -> Mul. With ``rff_form="chain"`` the layers are written as plain standard ops instead.
"""

from typing import Dict, Mapping, Optional, Sequence, Union

import onnx
import torch
from onnx import helper, AttributeProto

from .layers import RffConv2d
from .custom_op import BODY_OPSET, DOMAIN, OP_TYPE, VERSION, RffConvOp

__all__ = ["DOMAIN", "OP_TYPE", "VERSION", "RffConvOp", "rffconv_function", "attach_function", "export"]


def _ref(name: str, ref: str, kind: int) -> AttributeProto:
    attribute = AttributeProto()
    attribute.name, attribute.ref_attr_name, attribute.type = name, ref, kind
    return attribute


def rffconv_function() -> onnx.FunctionProto:
    """The operator's definition as an ONNX FunctionProto (same nodes, inputs, outputs and attributes as the C# builder)."""
    nodes = [
        helper.make_node("Constant", [], ["sigma_t"]),
        helper.make_node("Div", ["W", "sigma_t"], ["w_over_sigma"]),
        helper.make_node("Conv", ["X", "w_over_sigma", "B"], ["z"]),
        helper.make_node("Cos", ["z"], ["c"]),
        helper.make_node("Constant", [], ["scale_t"]),
        helper.make_node("Mul", ["c", "scale_t"], ["Y"]),
    ]
    nodes[0].attribute.append(_ref("value_float", "sigma", AttributeProto.FLOAT))
    nodes[2].attribute.extend([_ref("strides", "strides", AttributeProto.INTS), _ref("pads", "pads", AttributeProto.INTS),
                               _ref("dilations", "dilations", AttributeProto.INTS)])
    nodes[4].attribute.append(_ref("value_float", "scale", AttributeProto.FLOAT))
    function = onnx.FunctionProto()
    function.name, function.domain = OP_TYPE, DOMAIN
    function.doc_string = "Random Fourier features in convolutional form: Y = scale * cos(Conv(X, W) / sigma + B)."
    function.input.extend(["X", "W", "B"])
    function.output.append("Y")
    # Every node the exporter writes sets all five attributes, so 'scale' needs no default here.
    function.attribute.extend(["sigma", "scale", "strides", "pads", "dilations"])
    function.node.extend(nodes)
    function.opset_import.append(helper.make_opsetid("", BODY_OPSET))
    return function


def attach_function(model: onnx.ModelProto) -> onnx.ModelProto:
    """Adds the RffConv function and the ai.rff opset import to a model that uses the operator and lacks them."""
    uses = any(n.domain == DOMAIN and n.op_type == OP_TYPE for n in model.graph.node)
    if uses and not any(f.domain == DOMAIN and f.name == OP_TYPE for f in model.functions):
        model.functions.append(rffconv_function())
    if uses and not any(o.domain == DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(DOMAIN, VERSION))
    return model


def export(model: torch.nn.Module, example_input: Union[torch.Tensor, tuple], path: str, *, opset: int = 17,
           rff_form: str = "custom", input_names: Sequence[str] = ("input",), output_names: Sequence[str] = ("logits",),
           dynamic_axes: Optional[Dict[str, Dict[int, str]]] = None, do_constant_folding: bool = True,
           metadata: Optional[Mapping[str, object]] = None) -> onnx.ModelProto:
    """Writes ``model`` to ``path`` as ONNX; returns the loaded onnx.ModelProto.

    rff_form: "custom" writes each RffConv2d as one ai.rff::RffConv node plus the function definition;
    "chain" writes Conv -> Div -> Add -> Cos -> Mul (what a plain torch.onnx.export gives).
    """
    if rff_form not in ("custom", "chain"):
        raise ValueError("rff_form must be 'custom' or 'chain'")
    layers = [m for m in model.modules() if isinstance(m, RffConv2d)]
    previous = [m.onnx_form for m in layers]
    was_training = model.training
    model.eval()
    try:
        for layer in layers:
            layer.onnx_form = rff_form
        kwargs = dict(opset_version=opset, input_names=list(input_names), output_names=list(output_names),
                      dynamic_axes=dynamic_axes, do_constant_folding=do_constant_folding)
        if rff_form == "custom" and layers:
            kwargs["custom_opsets"] = {DOMAIN: VERSION}
        with torch.no_grad():
            torch.onnx.export(model, example_input, path, **kwargs)
    finally:
        for layer, form in zip(layers, previous):
            layer.onnx_form = form
        model.train(was_training)
    proto = onnx.load(path)
    attach_function(proto)
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, str(value)
    onnx.save(proto, path)
    return proto
