using System.IO.Compression;
using System.Runtime.CompilerServices;
using MailServer.Storage;

namespace MailServer.Server.Import;

/// <summary>
/// A WorkMail mailbox export (StartMailboxExportJob, after the customer decrypted it with their KMS key): a zip of
/// MIME messages in folders, one <c>.eml</c> file per message under its folder's path (<c>Sent Items/123.eml</c>;
/// this server's own exports have the same shape). Other entries (a manifest, calendar items) are skipped. An export
/// carries no flags, so messages arrive unseen unless the import marks them seen; the internal date is the topmost
/// Received field's date, else the Date field's, else the entry's time. The cursor is the entry's name: entries are
/// read in ordinal name order per folder.
/// </summary>
public sealed class ExportZipImportSource : IImportSource
{
    private readonly ZipArchive _zip;

    /// <summary>Opens the zip.</summary>
    /// <exception cref="ImportSourceException">The file is missing or not a zip.</exception>
    public ExportZipImportSource(string path)
    {
        Description = Path.GetFullPath(path);
        try
        {
            _zip = ZipFile.OpenRead(path);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new ImportSourceException($"cannot open {path} as a zip: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public string Description { get; }

    private IEnumerable<ZipArchiveEntry> Messages => _zip.Entries.Where(e => e.Name.EndsWith(".eml", StringComparison.OrdinalIgnoreCase));

    private static string FolderOf(ZipArchiveEntry entry) =>
        entry.FullName.Replace('\\', '/') is var name && name.LastIndexOf('/') is > 0 and var slash ? name[..slash] : WellKnownFolders.Inbox;

    /// <inheritdoc />
    public Task<IReadOnlyList<SourceFolder>> ListFoldersAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SourceFolder>>(Messages.Select(FolderOf).Distinct(StringComparer.Ordinal)
            .OrderBy(f => f.Equals(WellKnownFolders.Inbox, StringComparison.OrdinalIgnoreCase) ? 0 : 1).ThenBy(f => f, StringComparer.Ordinal)
            .Select(f => new SourceFolder(f, Handle: f)).ToList());

    private List<ZipArchiveEntry> Pending(SourceFolder folder, string? afterCursor) =>
        Messages.Where(e => FolderOf(e) == folder.Handle && (afterCursor is null || string.CompareOrdinal(e.FullName, afterCursor) > 0))
            .OrderBy(e => e.FullName, StringComparer.Ordinal).ToList();

    /// <inheritdoc />
    public Task<int?> CountAsync(SourceFolder folder, string? afterCursor, CancellationToken cancellationToken) =>
        Task.FromResult<int?>(Pending(folder, afterCursor).Count);

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceMessage> ReadAsync(SourceFolder folder, string? afterCursor, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        foreach (var entry in Pending(folder, afterCursor))
        {
            cancellationToken.ThrowIfCancellationRequested();
            byte[] octets;
            Exception? error = null;
            try
            {
                using var stream = entry.Open();
                using var copy = new MemoryStream();
                await stream.CopyToAsync(copy, cancellationToken).ConfigureAwait(false);
                octets = MessageFiles.ToCrlf(copy.GetBuffer().AsSpan(0, (int)copy.Length));
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                octets = [];
                error = e;
            }
            var date = error is null ? MessageFiles.DateFromHeader(octets) ?? entry.LastWriteTime : entry.LastWriteTime;
            yield return new SourceMessage(entry.FullName, entry.FullName,
                _ => error is null ? Task.FromResult(octets) : Task.FromException<byte[]>(new InvalidDataException($"cannot read the zip entry: {error.Message}", error)),
                date, MessageFlags.None, []);
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        _zip.Dispose();
        return ValueTask.CompletedTask;
    }
}
