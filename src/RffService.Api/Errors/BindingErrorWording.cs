using System.Text.RegularExpressions;
using RffService.Vision;

namespace RffService.Api.Errors;

/// <summary>
/// Rewrites ASP.NET Core's parameter binding failures (<c>Failed to bind parameter "Nullable&lt;int&gt; topK" from "abc".</c>)
/// in plain words: which query parameter, what it must be, and what was sent.
/// </summary>
internal static partial class BindingErrorWording
{
    [GeneratedRegex("""^Failed to bind parameter "(?<type>[^"]+) (?<name>[^" ]+)" from "(?<value>.*)"\.?$""", RegexOptions.Singleline)]
    private static partial Regex FailedToBind();

    [GeneratedRegex("""^Required parameter "(?<type>[^"]+) (?<name>[^" ]+)" was not provided""")]
    private static partial Regex Missing();

    public static string Rewrite(string message)
    {
        if (FailedToBind().Match(message) is { Success: true } bad)
            return $"The parameter '{QueryName(bad.Groups["name"].Value)}' must be {Expected(bad.Groups["type"].Value)}; " +
                   $"'{Text.Shorten(bad.Groups["value"].Value)}' is not.";
        if (Missing().Match(message) is { Success: true } missing)
            return $"The parameter '{QueryName(missing.Groups["name"].Value)}' is required ({Expected(missing.Groups["type"].Value)}).";
        return message;
    }

    /// <summary>The query name of a bound property: the endpoints' query records name each property in camelCase (TopK: topK).</summary>
    private static string QueryName(string property) => property.Length == 0 ? property : char.ToLowerInvariant(property[0]) + property[1..];

    private static string Expected(string type)
    {
        string bare = type.StartsWith("Nullable<", StringComparison.Ordinal) ? type[9..^1] : type;
        return bare switch
        {
            "int" or "long" or "short" or "Int32" or "Int64" => "a whole number",
            "float" or "double" or "decimal" or "Single" or "Double" => "a number (for example 0.5)",
            "bool" or "Boolean" => "true or false",
            "Guid" => "a GUID",
            _ => "a valid value",
        };
    }
}
