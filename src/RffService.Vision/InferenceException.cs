namespace RffService.Vision;

/// <summary>Whose fault a failure is; the API maps each kind to one HTTP status.</summary>
public enum ErrorKind
{
    /// <summary>The input cannot be read (undecodable or truncated image, bad base64). HTTP 400.</summary>
    BadInput,
    /// <summary>An unknown model or image id. HTTP 404.</summary>
    NotFound,
    /// <summary>The input exceeds a size limit (bytes, pixels, images per batch). HTTP 413.</summary>
    TooLarge,
    /// <summary>The input format is not one the service reads. HTTP 415.</summary>
    UnsupportedMedia,
    /// <summary>A parameter is out of range or does not fit the model. HTTP 422.</summary>
    InvalidParameter,
    /// <summary>The service cannot serve this now (model loading or failed, overloaded). HTTP 503.</summary>
    Unavailable,
}

/// <summary>An expected failure with a message fit for the client.</summary>
public sealed class InferenceException(ErrorKind kind, string title, string detail) : Exception(detail)
{
    public ErrorKind Kind { get; } = kind;
    public string Title { get; } = title;
    /// <summary>True when retrying will not help (a model that failed to load), so no Retry-After is sent.</summary>
    public bool Permanent { get; init; }
}

/// <summary>Text helpers for messages that quote client input.</summary>
public static class Text
{
    /// <summary>At most <paramref name="length"/> characters of a client-supplied string, for error messages.</summary>
    public static string Shorten(string? text, int length = 64) =>
        text is null ? "" : text.Length <= length ? text : text[..length] + "...";
}
