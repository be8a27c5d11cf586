using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace MailServer.Server.Configuration;

/// <summary>
/// One structural change to appsettings.json. A path is a list of property names (string) and array indices (int)
/// from the document root, e.g. <c>["MailServer", "Organizations", 0, "Users"]</c>.
/// </summary>
public abstract record JsonEdit
{
    /// <summary>Sets <paramref name="Property"/> of the object at <paramref name="ObjectPath"/>: replaces its value, or adds it after the last property.</summary>
    public sealed record Set(object[] ObjectPath, string Property, JsonNode? Value) : JsonEdit;

    /// <summary>Removes <paramref name="Property"/> from the object at <paramref name="ObjectPath"/>; nothing when absent.</summary>
    public sealed record Remove(object[] ObjectPath, string Property) : JsonEdit;

    /// <summary>
    /// Appends <paramref name="Value"/> to the array <paramref name="Property"/> of the object at <paramref name="ObjectPath"/>;
    /// creates the array when the property is absent.
    /// </summary>
    public sealed record Append(object[] ObjectPath, string Property, JsonNode? Value) : JsonEdit;

    /// <summary>Removes the item at <paramref name="Index"/> of the array at <paramref name="ArrayPath"/>.</summary>
    public sealed record RemoveItem(object[] ArrayPath, int Index) : JsonEdit;

    /// <summary>Replaces the item at <paramref name="Index"/> of the array at <paramref name="ArrayPath"/>.</summary>
    public sealed record ReplaceItem(object[] ArrayPath, int Index, JsonNode? Value) : JsonEdit;
}

/// <summary>
/// Applies <see cref="JsonEdit"/>s to the bytes of a JSON file with comments, changing only the bytes of the values
/// concerned: comments, key order, formatting and every other value stay as they were. New values are written on one
/// line (<c>{ "Email": "x", "Aliases": [] }</c>), indented like their siblings.
/// </summary>
public static class JsonFileEdits
{
    private static readonly JsonSerializerOptions StringOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The file content with every edit applied, in order.</summary>
    /// <exception cref="InvalidOperationException">A path does not lead to an object or array of the expected kind.</exception>
    /// <exception cref="JsonException">The content is not JSON.</exception>
    public static byte[] Apply(byte[] utf8, IEnumerable<JsonEdit> edits)
    {
        var text = utf8;
        foreach (var edit in edits)
            text = ApplyOne(text, edit);
        return text;
    }

    /// <summary>One value on one line, in the file's style: <c>{ "A": 1, "B": [ "x" ] }</c>, <c>[]</c>, <c>{}</c>.</summary>
    public static string Render(JsonNode? node)
    {
        var sb = new StringBuilder();
        Render(node, sb);
        return sb.ToString();
    }

    private static void Render(JsonNode? node, StringBuilder sb)
    {
        switch (node)
        {
            case null:
                sb.Append("null");
                break;
            case JsonObject o:
                if (o.Count == 0)
                {
                    sb.Append("{}");
                    break;
                }
                sb.Append("{ ");
                var first = true;
                foreach (var (key, value) in o)
                {
                    if (!first)
                        sb.Append(", ");
                    first = false;
                    sb.Append(JsonSerializer.Serialize(key, StringOptions)).Append(": ");
                    Render(value, sb);
                }
                sb.Append(" }");
                break;
            case JsonArray a:
                if (a.Count == 0)
                {
                    sb.Append("[]");
                    break;
                }
                sb.Append("[ ");
                for (var i = 0; i < a.Count; i++)
                {
                    if (i > 0)
                        sb.Append(", ");
                    Render(a[i], sb);
                }
                sb.Append(" ]");
                break;
            default:
                sb.Append(node.ToJsonString(StringOptions));
                break;
        }
    }

    private sealed class Node
    {
        public int Start;
        public int End;
        public JsonTokenType Kind;
        public List<(string Name, int NameStart, Node Value)>? Properties;
        public List<Node>? Items;
    }

    private static byte[] ApplyOne(byte[] utf8, JsonEdit edit)
    {
        var root = Scan(utf8);
        switch (edit)
        {
            case JsonEdit.Set set:
            {
                var obj = Find(root, set.ObjectPath, JsonTokenType.StartObject);
                var existing = obj.Properties!.FindLast(p => p.Name == set.Property);
                return existing.Value is not null
                    ? Splice(utf8, existing.Value.Start, existing.Value.End, Render(set.Value))
                    : InsertMember(utf8, obj, $"{JsonSerializer.Serialize(set.Property, StringOptions)}: {Render(set.Value)}");
            }
            case JsonEdit.Remove remove:
            {
                var obj = Find(root, remove.ObjectPath, JsonTokenType.StartObject);
                var index = obj.Properties!.FindLastIndex(p => p.Name == remove.Property);
                if (index < 0)
                    return utf8;
                var starts = obj.Properties.Select(p => p.NameStart).ToList();
                var ends = obj.Properties.Select(p => p.Value.End).ToList();
                return RemoveMember(utf8, obj, starts, ends, index);
            }
            case JsonEdit.Append append:
            {
                var obj = Find(root, append.ObjectPath, JsonTokenType.StartObject);
                var existing = obj.Properties!.FindLast(p => p.Name == append.Property);
                if (existing.Value is null)
                    return InsertMember(utf8, obj, $"{JsonSerializer.Serialize(append.Property, StringOptions)}: {Render(new JsonArray(append.Value?.DeepClone()))}");
                if (existing.Value.Kind == JsonTokenType.Null)
                    return Splice(utf8, existing.Value.Start, existing.Value.End, Render(new JsonArray(append.Value?.DeepClone())));
                if (existing.Value.Kind != JsonTokenType.StartArray)
                    throw new InvalidOperationException($"{append.Property} is not an array");
                return InsertMember(utf8, existing.Value, Render(append.Value));
            }
            case JsonEdit.RemoveItem removeItem:
            {
                var array = Find(root, removeItem.ArrayPath, JsonTokenType.StartArray);
                if (removeItem.Index < 0 || removeItem.Index >= array.Items!.Count)
                    throw new InvalidOperationException($"no item {removeItem.Index} in the array");
                return RemoveMember(utf8, array, array.Items.Select(i => i.Start).ToList(), array.Items.Select(i => i.End).ToList(), removeItem.Index);
            }
            case JsonEdit.ReplaceItem replaceItem:
            {
                var array = Find(root, replaceItem.ArrayPath, JsonTokenType.StartArray);
                if (replaceItem.Index < 0 || replaceItem.Index >= array.Items!.Count)
                    throw new InvalidOperationException($"no item {replaceItem.Index} in the array");
                var item = array.Items[replaceItem.Index];
                return Splice(utf8, item.Start, item.End, Render(replaceItem.Value));
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(edit));
        }
    }

    /// <summary>Adds a member (a "name": value pair or an array item) after the container's last one, or into an empty one.</summary>
    private static byte[] InsertMember(byte[] utf8, Node container, string member)
    {
        var lastEnd = container.Kind == JsonTokenType.StartObject
            ? container.Properties!.Count > 0 ? container.Properties[^1].Value.End : -1
            : container.Items!.Count > 0 ? container.Items[^1].End : -1;
        if (lastEnd < 0)
        {
            // Empty: "{}" or "[]" (perhaps with whitespace or comments inside) becomes "{ member }".
            return Splice(utf8, container.Start + 1, container.End - 1, $" {member} ");
        }
        var lastStart = container.Kind == JsonTokenType.StartObject ? container.Properties![^1].NameStart : container.Items![^1].Start;
        var multiLine = Array.IndexOf(utf8, (byte)'\n', container.Start, lastStart - container.Start) >= 0;
        var separator = multiLine ? "\n" + IndentOf(utf8, lastStart) : " ";
        // A trailing comma after the last member (allowed in the file) is kept and not doubled.
        var at = lastEnd;
        while (at < container.End && utf8[at] is (byte)' ' or (byte)'\t')
            at++;
        return at < container.End && utf8[at] == (byte)','
            ? Splice(utf8, at + 1, at + 1, separator + member + ",")
            : Splice(utf8, lastEnd, lastEnd, "," + separator + member);
    }

    private static byte[] RemoveMember(byte[] utf8, Node container, List<int> starts, List<int> ends, int index)
    {
        if (starts.Count == 1)
            return Splice(utf8, container.Start + 1, container.End - 1, "");
        return index < starts.Count - 1
            ? Splice(utf8, starts[index], starts[index + 1], "")
            : Splice(utf8, ends[index - 1], ends[index], "");
    }

    private static string IndentOf(byte[] utf8, int position)
    {
        var lineStart = position;
        while (lineStart > 0 && utf8[lineStart - 1] != (byte)'\n')
            lineStart--;
        var end = lineStart;
        while (end < position && utf8[end] is (byte)' ' or (byte)'\t')
            end++;
        return Encoding.UTF8.GetString(utf8, lineStart, end - lineStart);
    }

    private static byte[] Splice(byte[] utf8, int start, int end, string text)
    {
        var insert = Encoding.UTF8.GetBytes(text);
        var result = new byte[utf8.Length - (end - start) + insert.Length];
        utf8.AsSpan(0, start).CopyTo(result);
        insert.CopyTo(result.AsSpan(start));
        utf8.AsSpan(end).CopyTo(result.AsSpan(start + insert.Length));
        return result;
    }

    private static Node Find(Node root, object[] path, JsonTokenType kind)
    {
        var node = root;
        foreach (var step in path)
        {
            node = step switch
            {
                string name when node.Properties is not null => node.Properties.FindLast(p => p.Name == name).Value
                    ?? throw new InvalidOperationException($"no property {name}"),
                int i when node.Items is not null && i >= 0 && i < node.Items.Count => node.Items[i],
                _ => throw new InvalidOperationException($"no {step} in the document"),
            };
        }
        if (node.Kind != kind)
            throw new InvalidOperationException($"expected {(kind == JsonTokenType.StartObject ? "an object" : "an array")} at {string.Join(".", path)}");
        return node;
    }

    private static Node Scan(byte[] utf8)
    {
        var offset = utf8.AsSpan().StartsWith((ReadOnlySpan<byte>)[0xEF, 0xBB, 0xBF]) ? 3 : 0;
        var reader = new Utf8JsonReader(utf8.AsSpan(offset), new JsonReaderOptions
        {
            CommentHandling = JsonCommentHandling.Skip,
            AllowTrailingCommas = true,
        });
        if (!reader.Read())
            throw new JsonException("empty document");
        return ReadValue(ref reader, offset);
    }

    private static Node ReadValue(ref Utf8JsonReader reader, int offset)
    {
        var node = new Node { Start = offset + (int)reader.TokenStartIndex, Kind = reader.TokenType };
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                node.Properties = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var name = reader.GetString()!;
                    var nameStart = offset + (int)reader.TokenStartIndex;
                    reader.Read();
                    node.Properties.Add((name, nameStart, ReadValue(ref reader, offset)));
                }
                break;
            case JsonTokenType.StartArray:
                node.Items = [];
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    node.Items.Add(ReadValue(ref reader, offset));
                break;
        }
        node.End = offset + (int)reader.BytesConsumed;
        return node;
    }
}
