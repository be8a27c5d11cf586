using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MailServer.Server.Configuration;

/// <summary>
/// Reads one JSON object of the config into values, recording an error with its JSON path for every
/// wrong type, and — on <see cref="Finish"/> — for every key nobody asked for (typos).
/// </summary>
internal sealed partial class JsonObjectReader
{
    private readonly JsonElement _element;
    private readonly List<ConfigError> _errors;
    private readonly HashSet<string> _read = new(StringComparer.Ordinal);

    public JsonObjectReader(JsonElement element, string path, List<ConfigError> errors)
    {
        _element = element;
        Path = path;
        _errors = errors;
    }

    public string Path { get; }

    /// <summary>Reads <paramref name="element"/> as an object, or records an error and returns null.</summary>
    public static JsonObjectReader? Open(JsonElement element, string path, List<ConfigError> errors)
    {
        if (element.ValueKind == JsonValueKind.Object)
            return new JsonObjectReader(element, path, errors);
        errors.Add(new ConfigError(path, $"expected an object, found {Describe(element)}"));
        return null;
    }

    public static string Child(string path, string key) =>
        SimpleKey().IsMatch(key) ? $"{path}.{key}" : $"{path}['{key.Replace("'", "\\'")}']";

    public static string Item(string path, int index) => $"{path}[{index.ToString(CultureInfo.InvariantCulture)}]";

    public string PathOf(string key) => Child(Path, key);

    public void Error(string key, string message) => _errors.Add(new ConfigError(PathOf(key), message));

    /// <summary>The property, absent or JSON null both giving false.</summary>
    public bool TryGet(string key, out JsonElement value)
    {
        _read.Add(key);
        if (_element.TryGetProperty(key, out value) && value.ValueKind != JsonValueKind.Null)
            return true;
        value = default;
        return false;
    }

    public bool Has(string key) => _element.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null;

    public string? String(string key, bool required = false)
    {
        if (!TryGet(key, out var v))
        {
            if (required)
                Error(key, "is required");
            return null;
        }
        if (v.ValueKind != JsonValueKind.String)
        {
            Error(key, $"expected a string, found {Describe(v)}");
            return null;
        }
        var s = v.GetString()!;
        if (required && s.Trim().Length == 0)
        {
            Error(key, "must not be empty");
            return null;
        }
        return s;
    }

    public int Int(string key, int defaultValue, int min, int max)
    {
        if (!TryGet(key, out var v))
            return defaultValue;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var n))
        {
            Error(key, $"expected an integer, found {Describe(v)}");
            return defaultValue;
        }
        if (n < min || n > max)
        {
            Error(key, $"must be between {min} and {max}, found {n}");
            return defaultValue;
        }
        return n;
    }

    public bool Bool(string key, bool defaultValue)
    {
        if (!TryGet(key, out var v))
            return defaultValue;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False)
            return v.GetBoolean();
        Error(key, $"expected true or false, found {Describe(v)}");
        return defaultValue;
    }

    /// <summary>One of <paramref name="allowed"/>, matched exactly (names are case-sensitive, like the keys).</summary>
    public string? Name(string key, IReadOnlyList<string> allowed, string? defaultValue, bool required = false)
    {
        var s = String(key, required);
        if (s is null)
            return required ? null : defaultValue;
        if (allowed.Contains(s, StringComparer.Ordinal))
            return s;
        Error(key, $"'{s}' is not one of: {string.Join(", ", allowed)}");
        return null;
    }

    public TEnum? Enum<TEnum>(string key, TEnum? defaultValue, bool required = false) where TEnum : struct, System.Enum
    {
        var s = Name(key, System.Enum.GetNames<TEnum>(), defaultValue?.ToString(), required);
        return s is null ? null : System.Enum.Parse<TEnum>(s);
    }

    public JsonObjectReader? Object(string key, bool required = false)
    {
        if (!TryGet(key, out var v))
        {
            if (required)
                Error(key, "is required");
            return null;
        }
        return Open(v, PathOf(key), _errors);
    }

    /// <summary>Reads an array, calling <paramref name="item"/> with each element and its path; null items are dropped.</summary>
    public List<T> Array<T>(string key, Func<JsonElement, string, T?> item, bool required = false)
    {
        var result = new List<T>();
        if (!TryGet(key, out var v))
        {
            if (required)
                Error(key, "is required");
            return result;
        }
        if (v.ValueKind != JsonValueKind.Array)
        {
            Error(key, $"expected an array, found {Describe(v)}");
            return result;
        }
        var i = 0;
        foreach (var e in v.EnumerateArray())
        {
            var value = item(e, Item(PathOf(key), i));
            if (value is not null)
                result.Add(value);
            i++;
        }
        return result;
    }

    /// <summary>An array of strings; each element is passed through <paramref name="check"/> (null drops it).</summary>
    public List<string> Strings(string key, Func<string, string, string?>? check = null) =>
        Array(key, (e, path) =>
        {
            if (e.ValueKind != JsonValueKind.String)
            {
                _errors.Add(new ConfigError(path, $"expected a string, found {Describe(e)}"));
                return null;
            }
            var s = e.GetString()!;
            return check is null ? s : check(s, path);
        });

    /// <summary>Records an error for every key not read, and for every duplicated key.</summary>
    public void Finish()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in _element.EnumerateObject())
        {
            if (!seen.Add(property.Name))
            {
                Error(property.Name, "appears more than once in this object");
                continue;
            }
            if (_read.Contains(property.Name))
                continue;
            var near = _read.FirstOrDefault(k => string.Equals(k, property.Name, StringComparison.OrdinalIgnoreCase));
            Error(property.Name, near is null
                ? "unknown key"
                : $"unknown key (names are case-sensitive: did you mean '{near}'?)");
        }
    }

    public static string Describe(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => $"the number {e.GetRawText()}",
        JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex SimpleKey();
}
