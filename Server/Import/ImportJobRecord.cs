using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MailServer.Server.Import;

/// <summary>The states of an import job.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<ImportJobState>))]
public enum ImportJobState
{
    Running,
    Completed,
    Failed,
    Cancelled,
    /// <summary>The server stopped (or crashed) while the job ran: the same command resumes it.</summary>
    Interrupted,
}

/// <summary>One folder's checkpoint: where the source stands and what was done.</summary>
public sealed class ImportFolderRecord
{
    public required string Source { get; init; }
    public required string Target { get; init; }
    /// <summary>The source's position after the last message handled (see <see cref="SourceMessage.Cursor"/>).</summary>
    public string? Cursor { get; set; }
    public long Imported { get; set; }
    public long Duplicates { get; set; }
    public long Failed { get; set; }
    public long Bytes { get; set; }
    public bool Done { get; set; }
}

/// <summary>A message that could not be imported, and why (the import went on).</summary>
public sealed record ImportError(string Folder, string Message, string Error);

/// <summary>
/// An import job as its checkpoint file holds it (<c>data/imports/JOBID.json</c>, written atomically after every
/// few messages and at each folder's end) and as <c>GET /admin/imports/JOBID</c> answers it. Never holds a password.
/// </summary>
public sealed class ImportJobRecord
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>At most this many message errors are kept (the count goes on).</summary>
    public const int MaxErrorsKept = 200;

    public required string JobId { get; init; }
    public required string Kind { get; init; }
    public required string Source { get; init; }
    public required string User { get; init; }
    public ImportJobState State { get; set; }
    public DateTimeOffset StartTime { get; set; }
    public DateTimeOffset UpdateTime { get; set; }
    public DateTimeOffset? EndTime { get; set; }
    public string? Error { get; set; }
    /// <summary>Messages the source says are left to read in this run (null until every folder was counted, or when the source cannot count).</summary>
    public long? Total { get; set; }
    public string? CurrentFolder { get; set; }
    public List<ImportFolderRecord> Folders { get; init; } = [];
    public List<ImportError> Errors { get; init; } = [];

    public long Imported => Folders.Sum(f => f.Imported);
    public long Duplicates => Folders.Sum(f => f.Duplicates);
    public long Failed => Folders.Sum(f => f.Failed);
    public long Bytes => Folders.Sum(f => f.Bytes);

    /// <summary>
    /// The job id of an import: the same user and source give the same id, so running the same command again resumes
    /// that job from its checkpoint.
    /// </summary>
    public static string IdFor(string user, string kind, string sourceIdentity) =>
        "imp-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{user.ToLowerInvariant()}\n{kind}\n{sourceIdentity}")))[..20];

    public static string PathFor(string dataDirectory, string jobId) => Path.Combine(dataDirectory, "imports", jobId + ".json");

    /// <summary>The job's checkpoint file, or null when there is none (or it is unreadable: the import starts over, and the store's ledger keeps it from storing anything twice).</summary>
    public static ImportJobRecord? Load(string dataDirectory, string jobId)
    {
        var path = PathFor(dataDirectory, jobId);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<ImportJobRecord>(File.ReadAllBytes(path), Json) : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>Every job of the data directory, newest first.</summary>
    public static IReadOnlyList<ImportJobRecord> LoadAll(string dataDirectory)
    {
        var directory = Path.Combine(dataDirectory, "imports");
        if (!Directory.Exists(directory))
            return [];
        return Directory.EnumerateFiles(directory, "imp-*.json").Select(f => Load(dataDirectory, Path.GetFileNameWithoutExtension(f)))
            .OfType<ImportJobRecord>().OrderByDescending(j => j.StartTime).ToList();
    }

    /// <summary>Writes the checkpoint: temporary file, fsync, rename (mode 0600: it names folders and addresses).</summary>
    /// <exception cref="IOException">The file could not be written.</exception>
    public void Save(string dataDirectory)
    {
        var path = PathFor(dataDirectory, JobId);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(temporary, options))
        {
            JsonSerializer.Serialize(file, this, Json);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>Serialises for the admin listener.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, Json);

    /// <summary>Reads what <see cref="ToJson"/> wrote.</summary>
    /// <exception cref="JsonException">Not a job.</exception>
    public static ImportJobRecord FromJson(string json) => JsonSerializer.Deserialize<ImportJobRecord>(json, Json) ?? throw new JsonException("empty job");
}
