using System.Globalization;

namespace MailServer.Server.Events;

/// <summary>
/// Append-only JSON-lines files, one per organization and UTC day: <c>&lt;root&gt;/&lt;organizationId&gt;/YYYY-MM-DD.jsonl</c>.
/// Each line is written whole under a lock and flushed to the OS (a crash may lose the last lines, never
/// interleave two). The email event log and the audit log share it. Thread-safe.
/// </summary>
public sealed class DailyJsonLines : IDisposable
{
    private readonly object _gate = new();
    private string? _openPath;
    private FileStream? _open;

    /// <summary>Writes under <paramref name="root"/> (created on first write).</summary>
    public DailyJsonLines(string root) => Root = Path.GetFullPath(root ?? throw new ArgumentNullException(nameof(root)));

    /// <summary>The folder holding one sub-folder per organization.</summary>
    public string Root { get; }

    /// <summary>The file for an organization and UTC day.</summary>
    /// <exception cref="ArgumentException">The organization id could escape the folder (a path separator or "..").</exception>
    public string PathFor(string organizationId, DateOnly day)
    {
        CheckId(organizationId);
        return Path.Combine(Root, organizationId, day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) + ".jsonl");
    }

    /// <summary>Appends one line (without its newline) to the organization's file of <paramref name="at"/>'s UTC day.</summary>
    /// <exception cref="ArgumentException">The organization id is unsafe as a folder name.</exception>
    /// <exception cref="IOException">The file could not be written.</exception>
    public void Append(string organizationId, DateTimeOffset at, ReadOnlySpan<byte> line)
    {
        var path = PathFor(organizationId, DateOnly.FromDateTime(at.UtcDateTime));
        lock (_gate)
        {
            if (_openPath != path)
            {
                // Most writes go to one or two files (today's, per organization): keep the last one open.
                _open?.Dispose();
                _open = null;
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                _open = new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete);
                _openPath = path;
            }
            _open!.Write(line);
            _open.WriteByte((byte)'\n');
            _open.Flush();
        }
    }

    /// <summary>
    /// Deletes each organization's day files older than <paramref name="retentionDaysOf"/>(organization id) days,
    /// counting <paramref name="now"/>'s UTC day as the first kept day. Returns how many files were deleted.
    /// </summary>
    public int DeleteExpired(Func<string, int> retentionDaysOf, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(retentionDaysOf);
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var deleted = 0;
        lock (_gate)
        {
            foreach (var (orgId, day, path) in Files(Root).ToList())
            {
                if (day >= today.AddDays(-(Math.Max(1, retentionDaysOf(orgId)) - 1)))
                    continue;
                if (path == _openPath)
                {
                    _open?.Dispose();
                    _open = null;
                    _openPath = null;
                }
                File.Delete(path);
                deleted++;
            }
        }
        return deleted;
    }

    /// <summary>The day files of every organization (or of one), oldest day first.</summary>
    public static IEnumerable<(string OrganizationId, DateOnly Day, string Path)> Files(string root, string? organizationId = null)
    {
        if (!Directory.Exists(root))
            yield break;
        var orgDirs = organizationId is null ? Directory.EnumerateDirectories(root) : [Path.Combine(root, organizationId)];
        var found = new List<(string, DateOnly, string)>();
        foreach (var dir in orgDirs.Where(Directory.Exists))
            foreach (var file in Directory.EnumerateFiles(dir, "*.jsonl"))
                if (DateOnly.TryParseExact(Path.GetFileNameWithoutExtension(file), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
                    found.Add((Path.GetFileName(dir), day, file));
        foreach (var f in found.OrderBy(f => f.Item2).ThenBy(f => f.Item1, StringComparer.Ordinal))
            yield return f;
    }

    /// <summary>Closes the open file.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _open?.Dispose();
            _open = null;
            _openPath = null;
        }
    }

    private static void CheckId(string organizationId)
    {
        ArgumentException.ThrowIfNullOrEmpty(organizationId);
        if (organizationId.IndexOfAny(['/', '\\', '\0']) >= 0 || organizationId is "." or "..")
            throw new ArgumentException($"'{organizationId}' cannot name a log folder.", nameof(organizationId));
    }
}
