using System.Runtime.CompilerServices;
using MailServer.Storage;

namespace MailServer.Server.Import;

/// <summary>
/// A Maildir tree: the root's <c>cur/</c> and <c>new/</c> are INBOX; subfolders are Maildir++ directories
/// (<c>.Sent</c>, <c>.Work.Projects</c> → Work/Projects; Dovecot's and Courier's default) or, without the leading
/// dot, nested directories that hold <c>cur/</c> (Dovecot's LAYOUT=fs). Flags come from the file name's info
/// (<c>:2,</c> then D draft, F flagged, R replied, S seen, T trashed; lowercase letters are keywords named by the
/// folder's <c>dovecot-keywords</c> file); messages in <c>new/</c> have none. The internal date is the file's
/// modification time (what Dovecot and Courier use as the received date). The cursor is the file's unique base name
/// (before ':'); files are read in ordinal order of it.
/// </summary>
public sealed class MaildirImportSource(string root) : IImportSource
{
    /// <inheritdoc />
    public string Description { get; } = Path.GetFullPath(root);

    private static bool IsMaildir(string directory) => Directory.Exists(Path.Combine(directory, "cur")) || Directory.Exists(Path.Combine(directory, "new"));

    /// <inheritdoc />
    public Task<IReadOnlyList<SourceFolder>> ListFoldersAsync(CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(root);
        if (!Directory.Exists(full) || !IsMaildir(full))
            throw new ImportSourceException($"{root} is not a Maildir (it has no cur/ or new/ directory)");
        var folders = new List<SourceFolder> { new(WellKnownFolders.Inbox, Handle: full) };
        foreach (var directory in Directory.EnumerateDirectories(full))
        {
            var name = Path.GetFileName(directory);
            if (name is "cur" or "new" or "tmp" || !IsMaildir(directory) && name.StartsWith('.'))
                continue;
            if (name.StartsWith('.'))
                folders.Add(new SourceFolder(string.Join('/', name[1..].Split('.')), Handle: directory));
            else
                AddFsLayout(directory, name, folders);
        }
        return Task.FromResult<IReadOnlyList<SourceFolder>>(folders
            .OrderBy(f => f.Path == WellKnownFolders.Inbox ? 0 : 1).ThenBy(f => f.Path, StringComparer.Ordinal).ToList());
    }

    private static void AddFsLayout(string directory, string path, List<SourceFolder> folders)
    {
        if (IsMaildir(directory))
            folders.Add(new SourceFolder(path, Handle: directory));
        foreach (var child in Directory.EnumerateDirectories(directory))
        {
            var name = Path.GetFileName(child);
            if (name is not ("cur" or "new" or "tmp") && !name.StartsWith('.'))
                AddFsLayout(child, path + "/" + name, folders);
        }
    }

    private static string BaseName(string file) => Path.GetFileName(file) is var name && name.IndexOf(':') is > 0 and var colon ? name[..colon] : Path.GetFileName(file);

    private static List<(string Base, string File)> Pending(SourceFolder folder, string? afterCursor) =>
        new[] { "cur", "new" }.Select(d => Path.Combine(folder.Handle, d)).Where(Directory.Exists)
            .SelectMany(d => Directory.EnumerateFiles(d))
            .Where(f => !Path.GetFileName(f).StartsWith('.'))
            .Select(f => (Base: BaseName(f), File: f))
            .Where(p => afterCursor is null || string.CompareOrdinal(p.Base, afterCursor) > 0)
            .OrderBy(p => p.Base, StringComparer.Ordinal).ToList();

    /// <inheritdoc />
    public Task<int?> CountAsync(SourceFolder folder, string? afterCursor, CancellationToken cancellationToken) =>
        Task.FromResult<int?>(Pending(folder, afterCursor).Count);

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceMessage> ReadAsync(SourceFolder folder, string? afterCursor, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var keywordNames = ReadKeywordNames(folder.Handle);
        foreach (var (baseName, file) in Pending(folder, afterCursor))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var (flags, keywords) = FlagsOf(Path.GetFileName(file), Path.GetFileName(Path.GetDirectoryName(file)) == "new", keywordNames);
            DateTimeOffset? date = null;
            try { date = new DateTimeOffset(File.GetLastWriteTimeUtc(file), TimeSpan.Zero); }
            catch (IOException) { /* reported when the file is read */ }
            yield return new SourceMessage(baseName, $"{folder.Path} {Path.GetFileName(file)}", async ct =>
            {
                try
                {
                    return MessageFiles.ToCrlf(await File.ReadAllBytesAsync(file, ct).ConfigureAwait(false));
                }
                catch (FileNotFoundException)
                {
                    // A mail program renamed it meanwhile (a flag change): the same base name with other info.
                    var renamed = new[] { "cur", "new" }.Select(d => Path.Combine(folder.Handle, d)).Where(Directory.Exists)
                        .SelectMany(d => Directory.EnumerateFiles(d, baseName + "*")).FirstOrDefault(f => BaseName(f) == baseName)
                        ?? throw new InvalidDataException("the file was removed while the import ran");
                    return MessageFiles.ToCrlf(await File.ReadAllBytesAsync(renamed, ct).ConfigureAwait(false));
                }
            }, date, flags, keywords);
            await Task.CompletedTask.ConfigureAwait(false);
        }
    }

    /// <summary>Dovecot's <c>dovecot-keywords</c> file: "index name" per line; index 0 is the letter 'a'.</summary>
    private static Dictionary<char, string> ReadKeywordNames(string directory)
    {
        var names = new Dictionary<char, string>();
        var file = Path.Combine(directory, "dovecot-keywords");
        if (!File.Exists(file))
            return names;
        foreach (var line in File.ReadLines(file))
        {
            var parts = line.Split(' ', 2, StringSplitOptions.TrimEntries);
            if (parts.Length == 2 && int.TryParse(parts[0], out var index) && index is >= 0 and < 26 && ImportKeywords.IsAtom(parts[1]))
                names[(char)('a' + index)] = parts[1];
        }
        return names;
    }

    /// <summary>Flags and keywords from a Maildir file name's info (":2,FRS").</summary>
    internal static (MessageFlags Flags, IReadOnlyList<string> Keywords) FlagsOf(string fileName, bool inNew, IReadOnlyDictionary<char, string> keywordNames)
    {
        var flags = MessageFlags.None;
        var keywords = new List<string>();
        var info = fileName.IndexOf(":2,", StringComparison.Ordinal);
        if (inNew || info < 0)
            return (flags, keywords);
        foreach (var c in fileName[(info + 3)..])
        {
            switch (c)
            {
                case 'D': flags |= MessageFlags.Draft; break;
                case 'F': flags |= MessageFlags.Flagged; break;
                case 'R': flags |= MessageFlags.Answered; break;
                case 'S': flags |= MessageFlags.Seen; break;
                case 'T': flags |= MessageFlags.Deleted; break;
                case >= 'a' and <= 'z' when keywordNames.TryGetValue(c, out var keyword): keywords.Add(keyword); break;
            }
        }
        return (flags, keywords);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
