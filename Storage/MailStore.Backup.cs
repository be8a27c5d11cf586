using LiteDB;
using MailServer.Storage.Blobs;

namespace MailServer.Storage;

// Online backup: a consistent copy of the database taken at a commit point by the single writer, and the message
// files it refers to kept on disk until the copy is done (docs/dependencies.md, "LiteDB": the data file is never
// copied without its log, and the pair is taken between two commits).
public sealed partial class MailStore
{
    private readonly Lock _backupLock = new();
    private int _backups;
    private readonly List<(BlobStore Store, string BlobId)> _deferredDeletes = [];

    /// <summary>
    /// Copies the database (<c>mail.db</c> and <c>mail-log.db</c>) into <paramref name="directory"/> at a commit
    /// point: the copy runs on the writer between two group commits, so it holds every acknowledged write up to that
    /// commit and nothing half-written; intake waits only for the copy of the metadata (message files are copied
    /// afterwards by the caller). Until the returned session is disposed, no message file is deleted (deletions are
    /// deferred and then done), so every file the copy refers to stays readable for the caller.
    /// </summary>
    /// <exception cref="IOException">The copy could not be written.</exception>
    public async Task<BackupSession> BeginBackupAsync(string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        lock (_backupLock)
            _backups++;
        try
        {
            var (bytes, paused, commitPoint) = await RunOnWriter(_ =>
            {
                // Between two group commits: every write acknowledged before this instant is in the copy, none after.
                var at = Now;
                var started = System.Diagnostics.Stopwatch.GetTimestamp();
                var copied = CopyStream(_dataStream, Path.Combine(directory, "mail.db")) + CopyStream(_logStream, Path.Combine(directory, "mail-log.db"));
                return (copied, System.Diagnostics.Stopwatch.GetElapsedTime(started), at);
            }, [], cancellationToken).ConfigureAwait(false);
            StoreLog.SnapshotTaken(_log, bytes, (long)paused.TotalMilliseconds);
            return new BackupSession(this, directory, bytes, paused) { CommitPoint = commitPoint };
        }
        catch
        {
            EndBackup();
            throw;
        }
    }

    /// <summary>Where message files live: mailbox and queue files, held files, in-transit files.</summary>
    public (string Blobs, string Held, string MessageFlow) BlobRoots => (_blobs.Root, HeldBlobs.Root, FlowBlobs.Root);

    /// <summary>Deletes a blob now, or after the running backups when one runs.</summary>
    private void DeleteBlob(BlobStore store, string blobId)
    {
        lock (_backupLock)
        {
            if (_backups > 0)
            {
                _deferredDeletes.Add((store, blobId));
                return;
            }
        }
        store.Delete(blobId);
    }

    internal void EndBackup()
    {
        List<(BlobStore, string)> due;
        lock (_backupLock)
        {
            if (--_backups > 0)
                return;
            due = [.. _deferredDeletes];
            _deferredDeletes.Clear();
        }
        foreach (var (store, blobId) in due)
        {
            try { store.Delete(blobId); }
            catch (IOException) { /* reindex removes an orphan file */ }
        }
    }

    private static long CopyStream(DurableStream stream, string destination)
    {
        using var output = new FileStream(destination, FileMode.Create, FileAccess.Write, FileShare.None);
        // LiteDB's own stream wrapper locks on this object around each positioned access.
        lock (stream)
        {
            if (stream.Inner is FileStream file)
            {
                var length = RandomAccess.GetLength(file.SafeFileHandle);
                var buffer = new byte[1 << 20];
                for (long offset = 0; offset < length;)
                {
                    var read = RandomAccess.Read(file.SafeFileHandle, buffer, offset);
                    if (read == 0)
                        break;
                    output.Write(buffer, 0, read);
                    offset += read;
                }
            }
            else
            {
                var position = stream.Inner.Position;
                stream.Inner.Position = 0;
                stream.Inner.CopyTo(output);
                stream.Inner.Position = position;
            }
        }
        output.Flush(flushToDisk: true);
        return output.Length;
    }

    /// <summary>
    /// Reads a database copy made by <see cref="BeginBackupAsync"/> (merging its log into it first, so the copy
    /// becomes one self-contained <c>mail.db</c>) and returns the message files it refers to and its counts.
    /// </summary>
    /// <exception cref="LiteException">The copy is not a readable database.</exception>
    public static SnapshotContents ReadSnapshot(string databasePath)
    {
        using var db = new LiteDatabase(new ConnectionString { Filename = databasePath, Connection = ConnectionType.Direct });
        db.Checkpoint();
        var blobs = db.GetCollection(Schema.Entries).FindAll().Select(d => d[Schema.EntryFields.BlobId].AsString)
            .Concat(db.GetCollection(Schema.Queue).FindAll().Select(d => d[Schema.QueueFields.BlobId].AsString))
            .ToHashSet(StringComparer.Ordinal);
        var held = db.GetCollection(Schema.Held).FindAll().Select(d => d[Schema.HeldFields.BlobId].AsString).ToHashSet(StringComparer.Ordinal);
        var flow = db.GetCollection(FlowCollection).FindAll().Select(d => d[FlowBlobId].AsString).ToHashSet(StringComparer.Ordinal);
        return new SnapshotContents(blobs, held, flow,
            db.GetCollection(Schema.Mailboxes).Count(), db.GetCollection(Schema.Entries).Count(), db.GetCollection(Schema.Queue).Count(),
            db.GetCollection(Schema.Entries).FindAll().Select(d => (d[Schema.EntryFields.MailboxId].AsString, d["_id"].AsString)).ToList());
    }

    /// <summary>
    /// Decrypts stored messages (every one, or a random sample of <paramref name="sample"/>) and their header
    /// summaries and reports what opened. Used on a restored or backup copy of the store.
    /// </summary>
    public async Task<VerifyReport> VerifyAsync(int? sample, CancellationToken cancellationToken)
    {
        var entries = Collection(Schema.Entries).FindAll().Select(d => (Mailbox: d[Schema.EntryFields.MailboxId].AsString, Id: d["_id"].AsString)).ToList();
        if (sample is { } n && n < entries.Count)
            entries = [.. entries.OrderBy(_ => System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MaxValue)).Take(n)];
        long ok = 0, shredded = 0, failed = 0, bytes = 0;
        var errors = new List<string>();
        foreach (var (mailbox, id) in entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                var message = await ReadMessageAsync(mailbox, id, cancellationToken).ConfigureAwait(false);
                ReadHeaderSection(mailbox, id);
                bytes += message.Length;
                ok++;
            }
            catch (Crypto.MailboxShreddedException)
            {
                shredded++;
            }
            catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or IOException or KeyNotFoundException)
            {
                failed++;
                if (errors.Count < 20)
                    errors.Add($"entry {id} of mailbox {mailbox}: {e.Message}");
            }
        }
        return new VerifyReport(entries.Count, ok, shredded, failed, bytes, errors);
    }
}

/// <summary>A running backup: the database copy is taken; message files are not deleted until it is disposed.</summary>
public sealed class BackupSession : IDisposable
{
    private readonly MailStore _store;
    private int _disposed;

    internal BackupSession(MailStore store, string directory, long bytes, TimeSpan writerPaused)
    {
        _store = store;
        Directory = directory;
        DatabaseBytes = bytes;
        WriterPaused = writerPaused;
    }

    /// <summary>Where the database copy is.</summary>
    public string Directory { get; }

    /// <summary>The size of the copied database files.</summary>
    public long DatabaseBytes { get; }

    /// <summary>How long the writer (and so intake) waited for the copy.</summary>
    public TimeSpan WriterPaused { get; }

    /// <summary>When the writer copied the database: every SMTP 250 (or IMAP OK) given before it is in the copy.</summary>
    public DateTimeOffset CommitPoint { get; init; }

    /// <summary>Lets deferred message-file deletions happen.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
            _store.EndBackup();
    }
}

/// <summary>What a database copy refers to: message files per folder, counts, and every (mailbox, entry) pair.</summary>
public sealed record SnapshotContents(IReadOnlySet<string> Blobs, IReadOnlySet<string> HeldBlobs, IReadOnlySet<string> FlowBlobs,
    long Mailboxes, long Messages, long Queued, IReadOnlyList<(string MailboxId, string EntryId)> Entries);

/// <summary>The result of <see cref="MailStore.VerifyAsync"/>: checked, opened, of shredded mailboxes, failed, bytes decrypted, first errors.</summary>
public sealed record VerifyReport(long Checked, long Ok, long Shredded, long Failed, long Bytes, IReadOnlyList<string> Errors);
