using RffService.Onnx.Proto;

namespace RffService.Onnx.Explanations;

/// <summary>
/// Replaces every call of a model-local function (such as <c>ai.rff::RffConv</c>) by the function's body: internal
/// tensors renamed under the call's name, the call's inputs and outputs wired in, attribute references resolved from
/// the call (or the function's defaults). The result uses standard ops only, which gradients can be derived for.
/// </summary>
public static class FunctionInliner
{
    public static ModelProto Inline(ModelProto model)
    {
        if (model.Functions.Count == 0) return model;
        var result = model.Clone();
        var functions = result.Functions.ToDictionary(f => (f.Domain, f.Name));
        var nodes = new List<NodeProto>();
        int call = 0;
        foreach (var node in result.Graph.Node)
        {
            if (!functions.TryGetValue((node.Domain, node.OpType), out var function))
            {
                nodes.Add(node);
                continue;
            }
            string prefix = $"{(string.IsNullOrEmpty(node.Name) ? node.OpType : node.Name)}/inlined{call++}/";
            var rename = new Dictionary<string, string>();
            for (int i = 0; i < function.Input.Count; i++) rename[function.Input[i]] = i < node.Input.Count ? node.Input[i] : "";
            for (int i = 0; i < function.Output.Count; i++) rename[function.Output[i]] = node.Output[i];
            string Map(string name) => name.Length == 0 ? "" : rename.TryGetValue(name, out var mapped) ? mapped : prefix + name;
            foreach (var bodyNode in function.Node)
            {
                var copy = new NodeProto { OpType = bodyNode.OpType, Domain = bodyNode.Domain, Name = prefix + bodyNode.OpType + nodes.Count };
                copy.Input.AddRange(bodyNode.Input.Select(Map));
                copy.Output.AddRange(bodyNode.Output.Select(Map));
                foreach (var attribute in bodyNode.Attribute)
                {
                    if (string.IsNullOrEmpty(attribute.RefAttrName))
                    {
                        copy.Attribute.Add(attribute.Clone());
                        continue;
                    }
                    var value = node.Attribute.FirstOrDefault(a => a.Name == attribute.RefAttrName)
                                ?? function.AttributeProto.FirstOrDefault(a => a.Name == attribute.RefAttrName);
                    if (value is null) continue; // unset optional attribute: the body op uses its own default
                    var resolved = value.Clone();
                    resolved.Name = attribute.Name;
                    copy.Attribute.Add(resolved);
                }
                nodes.Add(copy);
            }
        }
        result.Graph.Node.Clear();
        result.Graph.Node.AddRange(nodes);
        result.Functions.Clear();
        foreach (var import in result.OpsetImport.Where(o => o.Domain.Length > 0 && functions.Keys.Any(k => k.Domain == o.Domain)).ToList())
            result.OpsetImport.Remove(import);
        return result;
    }
}
