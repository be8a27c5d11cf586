using System.Diagnostics;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Import;

/// <summary>The mailbox an import fills: whose, and its live quota (null when the user left the configuration).</summary>
public sealed record ImportTarget(string OrganizationId, string Address, Func<long?> QuotaBytes);

/// <summary>The mailbox is full: the import stopped; raising the quota and running it again resumes it.</summary>
public sealed class ImportQuotaException(string message) : Exception(message);

/// <summary>
/// Runs one import job: every folder of the source into the target mailbox, through the store like a delivery
/// (encrypted under the mailbox's key, fsync'd) but not through the mail-flow core: an import is mail the user
/// already had, so no flow rule, hook, mailbox rule, auto-reply, journal record or email event applies to it, and
/// it keeps its own flags, keywords and internal date.
/// <list type="bullet">
/// <item>Batched: up to 32 messages (8 MiB) of a folder are stored in one transaction with one fsync.</item>
/// <item>Idempotent: <see cref="MailStore.ImportAsync(string, string, IReadOnlyList{AppendItem}, CancellationToken)"/> stores each (folder, message) once, in the transaction
/// that links it; a re-run or a resume after kill -9 skips what is there (counted as duplicates).</item>
/// <item>Incremental: a run after a completed one reads each folder from its cursor, so it imports only what
/// reached the source since (a second run with nothing new reads nothing).</item>
/// <item>Resumable: the checkpoint (<see cref="ImportJobRecord"/>) holds each folder's source position; it is
/// written every 50 messages, every second and at each folder's end, so a resume re-reads at most that much.</item>
/// <item>A message that cannot be read or stored is reported (job errors, log event 9402) and the import goes on;
/// the source failing as a whole (connection lost) fails the job, and running it again resumes it.</item>
/// <item>Quota: the mailbox's live quota is checked before each message; a message that does not fit stops the job
/// with a clear error (<see cref="ImportQuotaException"/>), since importing the rest partially would be worse.</item>
/// </list>
/// </summary>
public sealed class MailboxImporter(IMailboxImportStore store, string dataDirectory, ILogger logger, TimeProvider? time = null)
{
    private const int CheckpointMessages = 50;
    /// <summary>Messages stored in one transaction (one fsync): at most this many, or <see cref="BatchBytes"/> (a larger message alone).</summary>
    private const int BatchMessages = 32;
    private const long BatchBytes = 8 * 1024 * 1024;
    private static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(1);
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    /// <summary>Runs the job to its end (or to its first job-wide failure) and returns its final record.</summary>
    /// <param name="job">The job's record: new, or loaded from its checkpoint to resume.</param>
    /// <param name="source">The opened source.</param>
    /// <param name="target">The mailbox to fill (created when it does not exist yet).</param>
    /// <param name="markSeen">Marks every imported message \Seen (for sources without flags).</param>
    /// <param name="messagesPerSecond">At most this many messages a second (0: no limit).</param>
    /// <param name="progress">Called after every checkpoint with the record (from the importing thread).</param>
    /// <param name="cancellationToken">Cancels the job (it ends <see cref="ImportJobState.Cancelled"/>).</param>
    public async Task<ImportJobRecord> RunAsync(ImportJobRecord job, IImportSource source, ImportTarget target, bool markSeen, double messagesPerSecond,
        Action<ImportJobRecord>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(target);
        job.State = ImportJobState.Running;
        job.Error = null;
        job.EndTime = null;
        job.Total = null;
        job.StartTime = job.StartTime == default ? _time.GetUtcNow() : job.StartTime;
        // Every run reads every folder from its cursor: a resume continues where the last run stopped, and a run
        // after a completed one picks up what reached the source since (WorkMail's advice: run the migration again
        // after the MX switch for the mail that arrived meanwhile).
        foreach (var folder in job.Folders)
            folder.Done = false;
        var lastSave = Stopwatch.StartNew();
        var sinceSave = 0;
        void Checkpoint(bool force)
        {
            if (!force && sinceSave < CheckpointMessages && lastSave.Elapsed < CheckpointInterval)
                return;
            job.UpdateTime = _time.GetUtcNow();
            job.Save(dataDirectory);
            sinceSave = 0;
            lastSave.Restart();
            progress?.Invoke(job);
        }

        ImportLog.Started(logger, job.JobId, target.Address, source.Description);
        try
        {
            var mailbox = await store.EnsureMailboxAsync(target.OrganizationId, target.Address, cancellationToken).ConfigureAwait(false);
            var folders = await source.ListFoldersAsync(cancellationToken).ConfigureAwait(false);
            var plan = new List<(SourceFolder Source, string Target, ImportFolderRecord Record)>();
            foreach (var folder in folders)
            {
                if (ImportFolderMapping.TargetName(folder) is not { } name)
                {
                    ImportLog.FolderSkipped(logger, job.JobId, folder.Path);
                    continue;
                }
                var record = job.Folders.FirstOrDefault(f => f.Source == folder.Path);
                if (record is null)
                    job.Folders.Add(record = new ImportFolderRecord { Source = folder.Path, Target = name });
                plan.Add((folder, name, record));
            }
            // Count what is left (progress); a source that cannot count cheaply leaves Total null.
            long total = 0;
            var counted = true;
            foreach (var (folder, _, record) in plan.Where(p => !p.Record.Done))
            {
                if (await source.CountAsync(folder, record.Cursor, cancellationToken).ConfigureAwait(false) is { } n)
                    total += n;
                else
                    counted = false;
            }
            job.Total = counted ? total : null;
            Checkpoint(force: true);

            var paced = 0L;
            var clock = Stopwatch.StartNew();
            foreach (var (folder, targetName, record) in plan)
            {
                if (record.Done)
                    continue;
                job.CurrentFolder = folder.Path;
                if (store.FindFolder(mailbox.MailboxId, targetName) is null)
                    await CreateFolderWithParentsAsync(mailbox.MailboxId, targetName, cancellationToken).ConfigureAwait(false);
                var batch = new List<(SourceMessage Message, byte[] Octets)>();
                long batchBytes = 0;
                string? lastCursor = null;
                async Task FlushAsync()
                {
                    if (batch.Count > 0)
                        await StoreAsync(record, mailbox.MailboxId, targetName, batch, markSeen, cancellationToken).ConfigureAwait(false);
                    sinceSave += batch.Count;
                    batch.Clear();
                    batchBytes = 0;
                    if (lastCursor is not null)
                        record.Cursor = lastCursor; // only once what came before it is committed
                    Checkpoint(force: false);
                }
                await foreach (var message in source.ReadAsync(folder, record.Cursor, cancellationToken).ConfigureAwait(false))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (messagesPerSecond > 0)
                    {
                        var due = TimeSpan.FromSeconds(paced++ / messagesPerSecond) - clock.Elapsed;
                        if (due > TimeSpan.Zero)
                            await Task.Delay(due, _time, cancellationToken).ConfigureAwait(false);
                    }
                    if (await ReadOneAsync(job, record, message, cancellationToken).ConfigureAwait(false) is { } octets)
                    {
                        // RFC 9208 §4.3's rule for APPEND, per message: the import stops before the mailbox goes over.
                        var quota = target.QuotaBytes() ?? throw new ImportQuotaException($"{target.Address} is no longer a user of this server");
                        var used = (store.FindMailbox(target.OrganizationId, target.Address)?.UsedBytes ?? 0) + batchBytes;
                        if (used + octets.Length > quota)
                        {
                            await FlushAsync().ConfigureAwait(false);
                            throw new ImportQuotaException(
                                $"the mailbox of {target.Address} is full: {used:N0} of {quota:N0} bytes used, and {message.Label} ({octets.Length:N0} bytes) does not fit. " +
                                "Raise MailboxQuotaMiB (or UpdateMailboxQuota) and run the same command again: the import resumes where it stopped");
                        }
                        if (batch.Count > 0 && (batch.Count >= BatchMessages || batchBytes + octets.Length > BatchBytes))
                            await FlushAsync().ConfigureAwait(false);
                        batch.Add((message, octets));
                        batchBytes += octets.Length;
                    }
                    lastCursor = message.Cursor;
                    if (batch.Count == 0)
                        await FlushAsync().ConfigureAwait(false); // a failed message alone: its cursor moves on
                }
                await FlushAsync().ConfigureAwait(false);
                record.Done = true;
                Checkpoint(force: true);
                ImportLog.FolderDone(logger, job.JobId, folder.Path, targetName, record.Imported, record.Duplicates, record.Failed);
            }
            job.State = ImportJobState.Completed;
            job.CurrentFolder = null;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            job.State = ImportJobState.Cancelled;
        }
        catch (Exception e) when (e is ImportSourceException or ImportQuotaException or IOException or ArgumentException or FolderOperationException)
        {
            job.State = ImportJobState.Failed;
            job.Error = e.Message;
            ImportLog.Failed(logger, job.JobId, e.Message);
        }
        job.EndTime = _time.GetUtcNow();
        Checkpoint(force: true);
        ImportLog.Ended(logger, job.JobId, job.State.ToString(), job.Imported, job.Duplicates, job.Failed, job.Bytes);
        return job;
    }

    /// <summary>The message's octets, or null after reporting why it cannot be read.</summary>
    private async Task<byte[]?> ReadOneAsync(ImportJobRecord job, ImportFolderRecord record, SourceMessage message, CancellationToken cancellationToken)
    {
        try
        {
            var octets = await message.Read(cancellationToken).ConfigureAwait(false);
            if (octets.Length == 0)
                throw new InvalidDataException("the message is empty");
            return octets;
        }
        catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            Report(job, record, message, e.Message);
            return null;
        }
    }

    /// <summary>Stores a batch in one transaction (one fsync), in source order.</summary>
    private async Task StoreAsync(ImportFolderRecord record, string mailboxId, string folderName, List<(SourceMessage Message, byte[] Octets)> batch,
        bool markSeen, CancellationToken cancellationToken)
    {
        var items = batch.Select(b => new AppendItem(b.Octets,
            b.Message.InternalDate ?? MessageFiles.DateFromHeader(b.Octets) ?? _time.GetUtcNow(),
            b.Message.Flags | (markSeen ? MessageFlags.Seen : MessageFlags.None), b.Message.Keywords)).ToList();
        try
        {
            var outcomes = await store.ImportAsync(mailboxId, folderName, items, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < outcomes.Count; i++)
            {
                if (outcomes[i].Duplicate)
                    record.Duplicates++;
                else
                {
                    record.Imported++;
                    record.Bytes += batch[i].Octets.Length;
                }
            }
        }
        catch (WriteOutcomeUnknownException e)
        {
            // The store cannot say whether it was written: stop rather than guess; the re-run's ledger check decides.
            throw new IOException($"the store failed while writing {batch[0].Message.Label} and the {batch.Count - 1} after it: {e.Message}", e);
        }
    }

    private void Report(ImportJobRecord job, ImportFolderRecord record, SourceMessage message, string error)
    {
        record.Failed++;
        if (job.Errors.Count < ImportJobRecord.MaxErrorsKept)
            job.Errors.Add(new ImportError(record.Source, message.Label, error));
        ImportLog.MessageFailed(logger, job.JobId, message.Label, error);
    }

    private async Task CreateFolderWithParentsAsync(string mailboxId, string name, CancellationToken cancellationToken)
    {
        var parts = name.Split('/');
        for (var i = 1; i <= parts.Length; i++)
        {
            var path = string.Join('/', parts[..i]);
            if (store.FindFolder(mailboxId, path) is not null)
                continue;
            try
            {
                await store.CreateFolderAsync(mailboxId, path, cancellationToken).ConfigureAwait(false);
            }
            catch (FolderOperationException) when (store.FindFolder(mailboxId, path) is not null)
            {
                // Created meanwhile (an IMAP client of the same user): fine.
            }
        }
    }
}
