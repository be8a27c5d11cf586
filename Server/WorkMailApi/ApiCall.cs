using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Server.Configuration;

namespace MailServer.Server.WorkMailApi;

/// <summary>One WorkMail API call: its input, its caller, and readers for its parameters that refuse bad input
/// with InvalidParameterException, the way WorkMail's own validation does.</summary>
public sealed class ApiCall(string operation, JsonElement input, ApiCaller caller, CancellationToken cancellationToken)
{
    /// <summary>The operation's name, e.g. CreateUser.</summary>
    public string Operation { get; } = operation;

    /// <summary>The request's JSON object.</summary>
    public JsonElement Input { get; } = input;

    /// <summary>Who signed the request.</summary>
    public ApiCaller Caller { get; } = caller;

    /// <summary>Cancelled when the client goes away or the server stops.</summary>
    public CancellationToken CancellationToken { get; } = cancellationToken;

    /// <summary>A string parameter; null when absent and not required.</summary>
    /// <exception cref="WorkMailException">InvalidParameterException: missing, not a string, or too long/short.</exception>
    public string? String(string name, bool required = false, int min = 0, int max = int.MaxValue)
    {
        if (!Input.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
        {
            if (required)
                throw WorkMailException.InvalidParameter($"{name} is required");
            return null;
        }
        if (v.ValueKind != JsonValueKind.String)
            throw WorkMailException.InvalidParameter($"{name} must be a string");
        var s = v.GetString()!;
        if (s.Length < min || s.Length > max)
            throw WorkMailException.InvalidParameter($"{name} must be {min} to {max} characters");
        return s;
    }

    /// <summary>A required string parameter.</summary>
    public string Required(string name, int min = 1, int max = 256) => String(name, true, min, max)!;

    /// <summary>A boolean parameter, or null when absent.</summary>
    public bool? Bool(string name)
    {
        if (!Input.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return null;
        return v.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? v.GetBoolean()
            : throw WorkMailException.InvalidParameter($"{name} must be true or false");
    }

    /// <summary>An integer parameter within bounds, or null when absent.</summary>
    public int? Int(string name, int min, int max)
    {
        if (!Input.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n) || n < min || n > max)
            throw WorkMailException.InvalidParameter($"{name} must be an integer from {min} to {max}");
        return n;
    }

    /// <summary>A list of strings, or null when absent.</summary>
    public List<string>? Strings(string name, bool required = false)
    {
        if (!Input.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return required ? throw WorkMailException.InvalidParameter($"{name} is required") : null;
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.String))
            throw WorkMailException.InvalidParameter($"{name} must be a list of strings");
        return v.EnumerateArray().Select(e => e.GetString()!).ToList();
    }

    /// <summary>An object parameter, or null when absent.</summary>
    public JsonElement? Object(string name)
    {
        if (!Input.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null)
            return null;
        return v.ValueKind == JsonValueKind.Object ? v : throw WorkMailException.InvalidParameter($"{name} must be an object");
    }

    /// <summary>
    /// The organization the call names (OrganizationId, <c>^m-[0-9a-f]{32}$</c>), which must be the caller's:
    /// an access key administers its own organization only, and any other id is not found.
    /// </summary>
    public (int Index, OrganizationConfig Organization) Organization(ServerConfig config)
    {
        var id = Required("OrganizationId", 34, 34);
        for (var i = 0; i < config.Organizations.Count; i++)
            if (config.Organizations[i].Id == id && id == Caller.OrganizationId)
                return (i, config.Organizations[i]);
        throw WorkMailException.OrganizationNotFound();
    }

    /// <summary>
    /// One page of <paramref name="items"/> by NextToken/MaxResults (1–100, default 100). The token is opaque to
    /// clients (base64 of the next position); a token that was not ours is InvalidParameterException.
    /// </summary>
    public (IReadOnlyList<T> Page, string? NextToken) Page<T>(IReadOnlyList<T> items, int defaultMax = 100)
    {
        var max = Int("MaxResults", 1, 100) ?? defaultMax;
        var start = 0;
        if (String("NextToken", max: 1024) is { } token)
        {
            try
            {
                var text = Encoding.ASCII.GetString(Convert.FromBase64String(token));
                if (!text.StartsWith("p:", StringComparison.Ordinal) || !int.TryParse(text[2..], NumberStyles.None, CultureInfo.InvariantCulture, out start))
                    throw new FormatException();
            }
            catch (FormatException)
            {
                throw WorkMailException.InvalidParameter("NextToken is not a token this API returned");
            }
        }
        var page = items.Skip(start).Take(max).ToList();
        var next = start + page.Count < items.Count
            ? Convert.ToBase64String(Encoding.ASCII.GetBytes("p:" + (start + page.Count).ToString(CultureInfo.InvariantCulture)))
            : null;
        return (page, next);
    }

    /// <summary>The input with secrets replaced, for the audit trail (as CloudTrail hides passwords).</summary>
    public JsonNode? RedactedInput()
    {
        var node = JsonNode.Parse(Input.GetRawText());
        if (node is JsonObject o)
            foreach (var key in o.Select(p => p.Key).ToList())
                if (key.Contains("Password", StringComparison.OrdinalIgnoreCase) || key.Contains("Secret", StringComparison.OrdinalIgnoreCase)
                    || key.Contains("Token", StringComparison.Ordinal) && key != "NextToken" && key != "ClientToken")
                    o[key] = "HIDDEN_DUE_TO_SECURITY_REASONS";
        return node;
    }
}
