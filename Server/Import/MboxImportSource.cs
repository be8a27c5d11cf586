using System.Runtime.CompilerServices;
using System.Text;
using MailServer.Storage;

namespace MailServer.Server.Import;

/// <summary>
/// mbox files (RFC 4155): one file is one folder; a directory is a tree of them (Thunderbird's layout: <c>Work</c>
/// and its subfolders in <c>Work.sbd/</c>; <c>.msf</c> index files and hidden files skipped; a <c>.mbox</c> suffix
/// dropped). A message begins at a line "From " at the start of the file or after an empty line; ">From " lines
/// lose one '>' (mboxrd quoting, which also undoes mboxo's). Flags come from the fields mail programs keep in the
/// file: Status (R seen), X-Status (A answered, F flagged, T draft, D deleted), X-Mozilla-Status (Thunderbird's
/// bits) and X-Keywords / X-Mozilla-Keys (keywords); the internal date from the "From " line. Lines are stored with
/// CRLF endings. The cursor is the byte offset of the next message, so a resume seeks there.
/// </summary>
public sealed class MboxImportSource(string path, string? folderName) : IImportSource
{
    /// <inheritdoc />
    public string Description { get; } = Path.GetFullPath(path);

    /// <inheritdoc />
    public Task<IReadOnlyList<SourceFolder>> ListFoldersAsync(CancellationToken cancellationToken)
    {
        if (File.Exists(path))
            return Task.FromResult<IReadOnlyList<SourceFolder>>([new SourceFolder(folderName ?? FolderName(Path.GetFileName(path)), Handle: Path.GetFullPath(path))]);
        if (!Directory.Exists(path))
            throw new ImportSourceException($"{path} is neither an mbox file nor a directory of them");
        var root = Path.GetFullPath(path);
        var folders = new List<SourceFolder>();
        foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories))
        {
            var name = Path.GetFileName(file);
            if (name.StartsWith('.') || name.EndsWith(".msf", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".dat", StringComparison.OrdinalIgnoreCase)
                || name.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || new FileInfo(file).Length == 0)
                continue;
            var relative = Path.GetRelativePath(root, file).Split(Path.DirectorySeparatorChar)
                .Select(p => p.EndsWith(".sbd", StringComparison.OrdinalIgnoreCase) ? p[..^4] : p).ToArray();
            relative[^1] = FolderName(relative[^1]);
            folders.Add(new SourceFolder(string.Join('/', relative), Handle: file));
        }
        return Task.FromResult<IReadOnlyList<SourceFolder>>(folders
            .OrderBy(f => f.Path.Equals(WellKnownFolders.Inbox, StringComparison.OrdinalIgnoreCase) ? 0 : 1).ThenBy(f => f.Path, StringComparer.Ordinal).ToList());
    }

    private static string FolderName(string fileName) =>
        fileName.EndsWith(".mbox", StringComparison.OrdinalIgnoreCase) ? fileName[..^5]
        : fileName.Equals("Inbox", StringComparison.OrdinalIgnoreCase) ? WellKnownFolders.Inbox : fileName;

    /// <inheritdoc />
    public Task<int?> CountAsync(SourceFolder folder, string? afterCursor, CancellationToken cancellationToken) => Task.FromResult<int?>(null);

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceMessage> ReadAsync(SourceFolder folder, string? afterCursor, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var file = new FileStream(folder.Handle, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: false);
        var start = afterCursor is not null && long.TryParse(afterCursor, out var offset) ? offset : 0;
        if (start > file.Length)
            yield break;
        file.Position = start;
        var reader = new LineReader(file);
        var message = new MemoryStream();
        string? fromLine = null;
        var previousEmpty = true;
        var number = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var lineStart = start + reader.Consumed;
            var line = reader.ReadLine();
            var isSeparator = line is not null && previousEmpty && line.AsSpan().StartsWith("From "u8);
            if (line is null || isSeparator)
            {
                if (fromLine is not null)
                {
                    number++;
                    var octets = message.ToArray();
                    // The empty line before the next "From " belongs to the separator.
                    var length = octets.Length;
                    if (line is not null && length >= 1 && octets[length - 1] == '\n')
                        length -= length >= 2 && octets[length - 2] == '\r' ? 2 : 1;
                    var body = MessageFiles.ToCrlf(octets.AsSpan(0, length));
                    var (flags, keywords) = FlagsOf(body);
                    yield return new SourceMessage(lineStart.ToString(System.Globalization.CultureInfo.InvariantCulture),
                        $"{folder.Path} message {number} (offset {lineStart})", _ => Task.FromResult(body),
                        MessageFiles.DateFromFromLine(fromLine) ?? MessageFiles.DateFromHeader(body), flags, keywords);
                }
                if (line is null)
                    yield break;
                fromLine = Encoding.Latin1.GetString(line).TrimEnd('\r', '\n');
                message.SetLength(0);
                previousEmpty = false;
                continue;
            }
            if (fromLine is null)
            {
                if (line.AsSpan().Trim("\r\n"u8).Length > 0)
                    throw new ImportSourceException($"{folder.Handle} is not an mbox file: it does not begin with a \"From \" line");
                continue;
            }
            previousEmpty = line.AsSpan().Trim("\r\n"u8).Length == 0;
            // mboxrd: ">From ", ">>From ", ... lose one '>'.
            var span = line.AsSpan();
            var quotes = 0;
            while (quotes < span.Length && span[quotes] == '>')
                quotes++;
            if (quotes > 0 && span[quotes..].StartsWith("From "u8))
                span = span[1..];
            message.Write(span);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>Flags and keywords from the status fields in the header section.</summary>
    internal static (MessageFlags Flags, IReadOnlyList<string> Keywords) FlagsOf(ReadOnlySpan<byte> octets)
    {
        var end = octets.IndexOf("\r\n\r\n"u8);
        var header = Encoding.Latin1.GetString(end < 0 ? octets : octets[..end]);
        var flags = MessageFlags.None;
        var keywords = new List<string>();
        foreach (var raw in header.Split("\r\n"))
        {
            var colon = raw.IndexOf(':');
            if (colon <= 0)
                continue;
            var name = raw[..colon].Trim();
            var value = raw[(colon + 1)..].Trim();
            if (name.Equals("Status", StringComparison.OrdinalIgnoreCase))
            {
                if (value.Contains('R')) flags |= MessageFlags.Seen;
            }
            else if (name.Equals("X-Status", StringComparison.OrdinalIgnoreCase))
            {
                if (value.Contains('A')) flags |= MessageFlags.Answered;
                if (value.Contains('F')) flags |= MessageFlags.Flagged;
                if (value.Contains('T')) flags |= MessageFlags.Draft;
                if (value.Contains('D')) flags |= MessageFlags.Deleted;
            }
            else if (name.Equals("X-Mozilla-Status", StringComparison.OrdinalIgnoreCase)
                     && int.TryParse(value, System.Globalization.NumberStyles.HexNumber, null, out var bits))
            {
                if ((bits & 0x1) != 0) flags |= MessageFlags.Seen;
                if ((bits & 0x2) != 0) flags |= MessageFlags.Answered;
                if ((bits & 0x4) != 0) flags |= MessageFlags.Flagged;
                if ((bits & 0x8) != 0) flags |= MessageFlags.Deleted;
            }
            else if (name.Equals("X-Keywords", StringComparison.OrdinalIgnoreCase) || name.Equals("X-Mozilla-Keys", StringComparison.OrdinalIgnoreCase))
            {
                keywords.AddRange(value.Split([' ', ','], StringSplitOptions.RemoveEmptyEntries).Where(ImportKeywords.IsAtom));
            }
        }
        return (flags, keywords.Distinct(StringComparer.OrdinalIgnoreCase).ToList());
    }

    /// <summary>Reads lines (with their line ending) from a stream, counting the octets consumed.</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[1 << 16];
        private int _position, _length;

        public long Consumed { get; private set; }

        public byte[]? ReadLine()
        {
            var line = new MemoryStream();
            while (true)
            {
                if (_position == _length)
                {
                    _length = stream.Read(_buffer, 0, _buffer.Length);
                    _position = 0;
                    if (_length == 0)
                        return line.Length == 0 ? null : Done(line);
                }
                var newline = Array.IndexOf(_buffer, (byte)'\n', _position, _length - _position);
                if (newline < 0)
                {
                    line.Write(_buffer, _position, _length - _position);
                    _position = _length;
                    continue;
                }
                line.Write(_buffer, _position, newline + 1 - _position);
                _position = newline + 1;
                return Done(line);
            }
        }

        private byte[] Done(MemoryStream line)
        {
            Consumed += line.Length;
            return line.ToArray();
        }
    }
}

/// <summary>Which keywords an import keeps: IMAP atoms without wildcards or specials (RFC 9051 §9 flag-keyword).</summary>
internal static class ImportKeywords
{
    public static bool IsAtom(string keyword) =>
        keyword.Length is > 0 and <= 100 && !keyword.StartsWith('\\')
        && keyword.All(c => c > ' ' && c < 127 && c is not ('(' or ')' or '{' or '%' or '*' or '"' or '\\' or ']'));
}
