using System.Text;
using System.Text.Json;

namespace MailServer.Server.Configuration;

/// <summary>
/// Targeted edits of appsettings.json that leave every other byte — comments, formatting, key order — as it was.
/// Only string values made of JSON-safe characters are written (password hashes), so no escaping is needed.
/// </summary>
public static class ConfigFileEditor
{
    /// <summary>
    /// Sets <c>$.MailServer.Organizations[org].Users[user].PasswordHash</c> for each entry, in one write.
    /// Replaces the existing value (string or null), or adds the property after the user's last property.
    /// The file is replaced atomically (temp file, fsync, rename) and keeps its Unix permissions.
    /// </summary>
    /// <exception cref="ArgumentException">A hash contains a character that would need JSON escaping.</exception>
    /// <exception cref="InvalidOperationException">A user object is not where the indices say.</exception>
    /// <exception cref="IOException">The file cannot be read or replaced.</exception>
    public static async Task SetPasswordHashesAsync(string configPath, IReadOnlyList<(int Organization, int User, string Hash)> edits,
        CancellationToken cancellationToken)
    {
        var bytes = await File.ReadAllBytesAsync(configPath, cancellationToken).ConfigureAwait(false);
        var updated = SetPasswordHashes(bytes, edits);
        await ReplaceFileAsync(configPath, updated, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The edit of <see cref="SetPasswordHashesAsync"/> on file content, without I/O.</summary>
    /// <exception cref="ArgumentException">A hash contains a character that would need JSON escaping.</exception>
    /// <exception cref="InvalidOperationException">A user object is not where the indices say.</exception>
    public static byte[] SetPasswordHashes(byte[] utf8, IReadOnlyList<(int Organization, int User, string Hash)> edits)
    {
        foreach (var (_, _, hash) in edits)
            if (hash.Any(c => c < 0x20 || c > 0x7E || c is '"' or '\\'))
                throw new ArgumentException("The value contains characters that need JSON escaping.", nameof(edits));

        var splices = new List<(int Start, int Length, string Text)>();
        foreach (var (org, user, hash) in edits)
        {
            object[] userPath = [ConfigLoader.SectionName, "Organizations", org, "Users", user];
            var location = Locate(utf8, userPath, "PasswordHash")
                ?? throw new InvalidOperationException($"No user object at $.MailServer.Organizations[{org}].Users[{user}].");
            splices.Add(location.ValueStart >= 0
                ? (location.ValueStart, location.ValueLength, $"\"{hash}\"")
                : (location.InsertAt, 0, $", \"PasswordHash\": \"{hash}\""));
        }
        // Apply from the end so earlier offsets stay valid.
        var result = utf8.ToList();
        foreach (var (start, length, text) in splices.OrderByDescending(s => s.Start))
        {
            result.RemoveRange(start, length);
            result.InsertRange(start, Encoding.UTF8.GetBytes(text));
        }
        return [.. result];
    }

    private sealed record Location(int ValueStart, int ValueLength, int InsertAt);

    private sealed class Frame(bool isArray)
    {
        public bool IsArray { get; } = isArray;
        public int Index { get; set; } = -1;
        public string? Property { get; set; }
        public int LastValueEnd { get; set; } = -1;
        public int OpenEnd { get; set; }
    }

    /// <summary>
    /// Finds property <paramref name="property"/> of the object at <paramref name="objectPath"/>: its value's byte
    /// range if present, otherwise where a new ", \"property\": value" can be inserted.
    /// </summary>
    private static Location? Locate(byte[] utf8, object[] objectPath, string property)
    {
        var offset = utf8.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var reader = new Utf8JsonReader(utf8.AsSpan(offset), new JsonReaderOptions
        {
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        });
        var stack = new List<Frame>();

        bool AtPath(int depth, object[] path)
        {
            // The frames 0..depth-1 describe the position of the value about to start.
            if (depth != path.Length)
                return false;
            for (var i = 0; i < path.Length; i++)
            {
                var f = stack[i];
                if (path[i] is string s ? f.IsArray || f.Property != s : !f.IsArray || f.Index != (int)path[i])
                    return false;
            }
            return true;
        }

        var targetDepth = -1; // stack depth of the target object's frame, while inside it
        while (reader.Read())
        {
            var token = reader.TokenType;
            if (token == JsonTokenType.PropertyName)
            {
                stack[^1].Property = reader.GetString();
                continue;
            }
            if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
            {
                var closed = stack[^1];
                stack.RemoveAt(stack.Count - 1);
                if (targetDepth == stack.Count + 1 && !closed.IsArray)
                {
                    var insertAt = closed.LastValueEnd >= 0 ? closed.LastValueEnd : closed.OpenEnd;
                    return new Location(-1, 0, offset + insertAt);
                }
                if (stack.Count > 0)
                    stack[^1].LastValueEnd = (int)reader.BytesConsumed;
                continue;
            }
            // A value starts.
            if (stack.Count > 0 && stack[^1].IsArray)
                stack[^1].Index++;
            if (targetDepth == stack.Count && stack[^1].Property == property)
            {
                var start = (int)reader.TokenStartIndex;
                if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    reader.Skip();
                return new Location(offset + start, (int)reader.BytesConsumed - start, -1);
            }
            if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
            {
                var isTarget = token == JsonTokenType.StartObject && AtPath(stack.Count, objectPath);
                stack.Add(new Frame(token == JsonTokenType.StartArray) { OpenEnd = (int)reader.BytesConsumed });
                if (isTarget)
                    targetDepth = stack.Count;
                continue;
            }
            if (stack.Count > 0)
                stack[^1].LastValueEnd = (int)reader.BytesConsumed;
        }
        return null;
    }

    /// <summary>Writes <paramref name="content"/> to a temp file beside the target, fsyncs, and renames it over the target.</summary>
    /// <exception cref="IOException">The file cannot be written or replaced.</exception>
    public static async Task ReplaceFileAsync(string path, byte[] content, CancellationToken cancellationToken)
    {
        var temp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = File.Exists(path) ? File.GetUnixFileMode(path) : UnixFileMode.UserRead | UnixFileMode.UserWrite;
        try
        {
            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
