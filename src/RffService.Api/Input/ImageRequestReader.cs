using System.Text.Json;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using RffService.Vision;

namespace RffService.Api.Input;

/// <summary>
/// Reads the images of an inference request in any of its three forms: multipart/form-data (field "image",
/// several files make a batch), a raw image body, or JSON {"image": base64} / {"images": [base64, ...]}.
/// The body is read with a hard size limit whatever the server in front does.
/// </summary>
public sealed class ImageRequestReader(IOptions<ApiOptions> options)
{
    public static readonly string[] RawImageTypes =
        ["image/png", "image/jpeg", "image/jpg", "image/webp", "image/bmp", "image/x-ms-bmp", "image/gif", "application/octet-stream"];

    private static readonly string[] ImageFieldNames = ["image", "images", "image[]"];

    private readonly ApiOptions _options = options.Value;

    public async Task<IReadOnlyList<ReadOnlyMemory<byte>>> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) || contentType.MediaType.Value is not { } mediaType)
            throw Unsupported(request.ContentType);
        mediaType = mediaType.ToLowerInvariant();

        if (mediaType == "multipart/form-data")
        {
            var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
            if (string.IsNullOrWhiteSpace(boundary))
                throw new InferenceException(ErrorKind.BadInput, "Malformed multipart body", "The multipart/form-data Content-Type has no boundary parameter.");
            var body = await ReadBodyAsync(request, cancellationToken);
            return await ReadMultipartAsync(body, boundary, cancellationToken);
        }
        if (mediaType == "application/json" || mediaType.EndsWith("+json", StringComparison.Ordinal))
            return ReadJson(await ReadBodyAsync(request, cancellationToken));
        if (RawImageTypes.Contains(mediaType))
            return [await ReadBodyAsync(request, cancellationToken)];
        throw Unsupported(mediaType);
    }

    /// <summary>
    /// The body, read once: straight into an array of the declared length when the client sent one, else through a
    /// growing buffer. Either way no more than <see cref="ApiOptions.MaxRequestBytes"/> are read.
    /// </summary>
    private async Task<byte[]> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        long limit = _options.MaxRequestBytes;
        if (request.ContentLength > limit) throw TooLarge(limit);
        if (request.ContentLength is { } declared)
        {
            var exact = new byte[declared];
            int filled = 0;
            while (filled < exact.Length)
            {
                int read = await request.Body.ReadAsync(exact.AsMemory(filled), cancellationToken);
                if (read == 0) throw new InferenceException(ErrorKind.BadInput, "Truncated body", $"The body ended after {filled} of its {declared} declared bytes.");
                filled += read;
            }
            if (filled == 0) throw EmptyBody();
            return exact;
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int count;
        while ((count = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + count > limit) throw TooLarge(limit);
            buffer.Write(chunk, 0, count);
        }
        if (buffer.Length == 0) throw EmptyBody();
        return buffer.ToArray();
    }

    private static InferenceException EmptyBody() => new(ErrorKind.BadInput, "Empty body", "The request body is empty; send an image.");

    private async Task<IReadOnlyList<ReadOnlyMemory<byte>>> ReadMultipartAsync(byte[] body, string boundary, CancellationToken cancellationToken)
    {
        var reader = new MultipartReader(boundary, new MemoryStream(body));
        var images = new List<ReadOnlyMemory<byte>>();
        int parts = 0;
        try
        {
            for (var section = await reader.ReadNextSectionAsync(cancellationToken); section is not null;
                 section = await reader.ReadNextSectionAsync(cancellationToken))
            {
                if (++parts > _options.MaxMultipartParts)
                    throw new InferenceException(ErrorKind.TooLarge, "Too many parts",
                        $"The multipart body has more than {_options.MaxMultipartParts} parts.");
                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                    || !ImageFieldNames.Contains(HeaderUtilities.RemoveQuotes(disposition.Name).Value, StringComparer.OrdinalIgnoreCase))
                    continue; // other form fields are ignored
                using var content = new MemoryStream();
                await section.Body.CopyToAsync(content, cancellationToken);
                images.Add(content.ToArray());
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            throw new InferenceException(ErrorKind.BadInput, "Malformed multipart body", $"The multipart body cannot be read: {ex.Message}");
        }
        if (images.Count == 0)
            throw new InferenceException(ErrorKind.BadInput, "No image", "The multipart body has no file in a field named 'image'.");
        return images;
    }

    private static IReadOnlyList<ReadOnlyMemory<byte>> ReadJson(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 8 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw BadJson("The JSON body must be an object: {\"image\": \"<base64>\"} or {\"images\": [\"<base64>\", ...]}.");
            if (root.TryGetProperty("image", out var single))
                return [DecodeBase64(single, "image")];
            if (root.TryGetProperty("images", out var many))
            {
                if (many.ValueKind != JsonValueKind.Array)
                    throw BadJson("'images' must be an array of base64 strings.");
                if (many.GetArrayLength() == 0)
                    throw BadJson("'images' is empty.");
                return many.EnumerateArray().Select((element, i) => DecodeBase64(element, $"images[{i}]")).ToList();
            }
            throw BadJson("The JSON body has neither an 'image' nor an 'images' property.");
        }
        catch (JsonException ex)
        {
            throw BadJson($"The body is not valid JSON: {ex.Message}");
        }
    }

    /// <summary>Accepts plain base64 and data URLs (data:image/png;base64,...).</summary>
    private static ReadOnlyMemory<byte> DecodeBase64(JsonElement element, string field)
    {
        if (element.ValueKind != JsonValueKind.String)
            throw BadJson($"'{field}' must be a base64 string, got {element.ValueKind.ToString().ToLowerInvariant()}.");
        string text = element.GetString()!;
        int comma = text.StartsWith("data:", StringComparison.OrdinalIgnoreCase) ? text.IndexOf(',') : -1;
        if (comma >= 0) text = text[(comma + 1)..];
        try
        {
            var bytes = Convert.FromBase64String(text);
            if (bytes.Length == 0) throw BadJson($"'{field}' is empty.");
            return bytes;
        }
        catch (FormatException)
        {
            throw new InferenceException(ErrorKind.BadInput, "Invalid base64", $"'{field}' is not valid base64.");
        }
    }

    private static InferenceException BadJson(string detail) => new(ErrorKind.BadInput, "Invalid JSON body", detail);

    private static InferenceException TooLarge(long limit) =>
        new(ErrorKind.TooLarge, "Request too large", $"The request body exceeds the limit of {limit:N0} bytes.");

    private static InferenceException Unsupported(string? contentType) => new(ErrorKind.UnsupportedMedia, "Unsupported media type",
        $"Content-Type '{contentType ?? "(none)"}' is not accepted. Send multipart/form-data (field 'image'), an image body " +
        "(image/png, image/jpeg, image/webp, image/bmp, image/gif) or application/json with base64 'image' or 'images'.");
}
