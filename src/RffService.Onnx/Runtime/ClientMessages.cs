using System.Text.RegularExpressions;

namespace RffService.Onnx.Runtime;

/// <summary>
/// Error messages as clients may see them: ONNX Runtime's source locations and C++ signatures, absolute server paths
/// (reduced to their file name) and .NET type names are taken out; what went wrong stays. The log keeps the original.
/// </summary>
public static partial class ClientMessages
{
    public static string WithoutInternals(string message)
    {
        string text = SourceLocation().Replace(message, "");
        text = CppSignature().Replace(text, "");
        text = AbsolutePath().Replace(text, m => m.Groups["file"].Value);
        text = DotNetTypeName().Replace(text, "");
        return Spaces().Replace(text, " ").Trim();
    }

    /// <summary>A native source file with its line: /onnxruntime_src/onnxruntime/core/graph/graph.cc:1234</summary>
    [GeneratedRegex(@"(?:[A-Za-z]:)?(?:[/\\][^\s:'""()\[\]]+)+\.(?:cc|cpp|cxx|c|h|hpp)(?::\d+)?")]
    private static partial Regex SourceLocation();

    /// <summary>onnxruntime::common::Status onnxruntime::Conv&lt;float&gt;::Compute(onnxruntime::OpKernelContext*) const</summary>
    [GeneratedRegex(@"(?:\b(?:onnxruntime|std|Ort|google)::\S*\s*)+(?:\bconst\b\s*)?")]
    private static partial Regex CppSignature();

    /// <summary>An absolute path of two or more segments, not in quotes (node names look like paths): only its last segment is kept.</summary>
    [GeneratedRegex(@"(?<![\w.:/'""])(?:[A-Za-z]:)?(?:[/\\][\w.\-+@]+)+[/\\](?<file>[\w.\-+@]+)")]
    private static partial Regex AbsolutePath();

    [GeneratedRegex(@"\b(?:System|Microsoft|Google|RffService)(?:\.[A-Za-z_]\w*)+(?:`\d+)?\b:?\s?")]
    private static partial Regex DotNetTypeName();

    [GeneratedRegex(@"[ \t]{2,}")]
    private static partial Regex Spaces();
}
