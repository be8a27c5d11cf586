using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using MailServer.Storage;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.WorkMailApi;

/// <summary>The state of one export job, as DescribeMailboxExportJob reports it.</summary>
public sealed record MailboxExportJob(
    string JobId,
    string OrganizationId,
    string EntityId,
    string Owner,
    string? Description,
    string RoleArn,
    string KmsKeyArn,
    string S3BucketName,
    string S3Prefix,
    string S3Path,
    string State,
    int EstimatedProgress,
    string? ErrorInfo,
    DateTimeOffset StartTime,
    DateTimeOffset? EndTime,
    string? ClientToken);

/// <summary>
/// Mailbox export jobs (§26, StartMailboxExportJob): a background task per job writes every message of the mailbox
/// as MIME into a zip (<c>&lt;folder path&gt;/&lt;uid&gt;.eml</c>), in the local folder that stands for the S3 bucket:
/// <c>&lt;DataDirectory&gt;/exports/&lt;S3BucketName&gt;/&lt;S3Prefix&gt;/&lt;JobId&gt;.zip</c>, with beside it
/// <c>&lt;JobId&gt;.json</c> holding §26's output log keys (totalMessages, totalBytes, totalFolders,
/// totalNonExportableItems, sha384Hash of the zip, startTime, endTime; values are strings). The zip is written under a
/// temporary name and renamed when complete, so a visible zip is always whole. The job list is kept in
/// <c>exports/jobs.json</c>; a job running when the server stopped is FAILED after the restart. WorkMail's limits
/// apply: at most 10 running jobs per organization, one job per mailbox per 24 hours.
/// </summary>
public sealed class MailboxExportJobs : IAsyncDisposable
{
    /// <summary>WorkMail: "up to 10 concurrent mailbox export jobs for a given organization".</summary>
    public const int MaxRunningPerOrganization = 10;

    /// <summary>WorkMail: a job for a given mailbox "as often as once every 24 hours".</summary>
    public static readonly TimeSpan PerMailboxInterval = TimeSpan.FromHours(24);

    private static readonly JsonSerializerOptions JsonOptions = new() { WriteIndented = true };

    private readonly IImapSessionReads _store;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly string _root;
    private readonly string _jobsFile;
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<string, MailboxExportJob> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (Task Task, CancellationTokenSource Cancel)> _running = new(StringComparer.Ordinal);

    /// <summary>Loads the job list of <paramref name="dataDirectory"/>; jobs interrupted by a stop become FAILED.</summary>
    public MailboxExportJobs(string dataDirectory, IImapSessionReads store, ILogger logger, TimeProvider? time = null)
    {
        _store = store;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _root = Path.Combine(dataDirectory, "exports");
        _jobsFile = Path.Combine(_root, "jobs.json");
        if (File.Exists(_jobsFile))
        {
            foreach (var job in JsonSerializer.Deserialize<List<MailboxExportJob>>(File.ReadAllBytes(_jobsFile)) ?? [])
                _jobs[job.JobId] = job.State == "RUNNING"
                    ? job with { State = "FAILED", ErrorInfo = "The server stopped while the job ran.", EndTime = _time.GetUtcNow() }
                    : job;
        }
    }

    /// <summary>The folder that stands for a bucket.</summary>
    public string BucketFolder(string bucket) => Path.Combine(_root, bucket);

    /// <summary>The organization's jobs, newest first.</summary>
    public IReadOnlyList<MailboxExportJob> List(string organizationId) =>
        [.. _jobs.Values.Where(j => j.OrganizationId == organizationId).OrderByDescending(j => j.StartTime)];

    /// <summary>One job of the organization, or null.</summary>
    public MailboxExportJob? Find(string organizationId, string jobId) =>
        _jobs.TryGetValue(jobId, out var job) && job.OrganizationId == organizationId ? job : null;

    /// <summary>Starts a job exporting the mailbox of <paramref name="owner"/>.</summary>
    /// <exception cref="WorkMailException">LimitExceededException (limits above) or InvalidParameterException (prefix).</exception>
    public MailboxExportJob Start(string organizationId, string entityId, string owner, string? description, string roleArn, string kmsKeyArn,
        string bucket, string prefix, string? clientToken)
    {
        if (prefix.Split('/').Any(s => s is "." or ".."))
            throw WorkMailException.InvalidParameter("S3Prefix must not contain '.' or '..' segments");
        MailboxExportJob job;
        lock (_gate)
        {
            if (clientToken is not null && _jobs.Values.FirstOrDefault(j => j.OrganizationId == organizationId && j.ClientToken == clientToken) is { } same)
                return same; // the same request retried
            var now = _time.GetUtcNow();
            if (_jobs.Values.Count(j => j.OrganizationId == organizationId && j.State == "RUNNING") >= MaxRunningPerOrganization)
                throw new WorkMailException("LimitExceededException", $"The request exceeds the limit of the resource. ({MaxRunningPerOrganization} running export jobs)");
            if (_jobs.Values.Any(j => j.OrganizationId == organizationId && j.EntityId == entityId && j.State != "CANCELLED" && j.State != "FAILED"
                                      && now - j.StartTime < PerMailboxInterval))
                throw new WorkMailException("LimitExceededException", "The request exceeds the limit of the resource. (one export job per mailbox every 24 hours)");
            var jobId = Guid.NewGuid().ToString("D");
            var key = (prefix.Trim('/').Length > 0 ? prefix.Trim('/') + "/" : "") + jobId + ".zip";
            job = new MailboxExportJob(jobId, organizationId, entityId, owner, description, roleArn, kmsKeyArn, bucket, prefix, key,
                "RUNNING", 0, null, now, null, clientToken);
            _jobs[jobId] = job;
            Save();
        }
        var cancel = new CancellationTokenSource();
        _running[job.JobId] = (Task.Run(() => RunAsync(job, cancel.Token)), cancel);
        return job;
    }

    /// <summary>Cancels a running job; a finished one stays as it is.</summary>
    public bool Cancel(string organizationId, string jobId)
    {
        if (Find(organizationId, jobId) is null)
            return false;
        if (_running.TryGetValue(jobId, out var run))
            run.Cancel.Cancel();
        return true;
    }

    private async Task RunAsync(MailboxExportJob job, CancellationToken cancellationToken)
    {
        var zipPath = Path.Combine(BucketFolder(job.S3BucketName), job.S3Path);
        var temp = zipPath + ".partial";
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(zipPath)!);
            var mailbox = _store.FindMailbox(job.OrganizationId, job.Owner);
            var folders = mailbox is null ? [] : _store.ListFolders(mailbox.MailboxId);
            var total = folders.Sum(f => _store.ListMessages(f.FolderId).Count);
            long messages = 0, bytes = 0;
            var createOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
                createOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            await using (var file = new FileStream(temp, createOptions))
            {
                using (var zip = new ZipArchive(file, ZipArchiveMode.Create, leaveOpen: true))
                {
                    foreach (var folder in folders)
                    {
                        zip.CreateEntry(folder.Name.TrimEnd('/') + "/");
                        foreach (var message in _store.ListMessages(folder.FolderId))
                        {
                            cancellationToken.ThrowIfCancellationRequested();
                            var content = await _store.ReadMessageAsync(mailbox!.MailboxId, message.EntryId, cancellationToken).ConfigureAwait(false);
                            var entry = zip.CreateEntry($"{folder.Name}/{message.Uid.ToString(CultureInfo.InvariantCulture)}.eml", CompressionLevel.Fastest);
                            await using (var stream = entry.Open())
                                await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                            messages++;
                            bytes += content.Length;
                            Update(job.JobId, j => j with { EstimatedProgress = total == 0 ? 99 : (int)Math.Min(99, messages * 100 / total) });
                        }
                    }
                }
                await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }
            var hash = Convert.ToHexStringLower(SHA384.HashData(await File.ReadAllBytesAsync(temp, cancellationToken).ConfigureAwait(false)));
            File.Move(temp, zipPath, overwrite: true);
            var end = _time.GetUtcNow();
            // §26's output log: exact keys, string values.
            var log = new JsonObject
            {
                ["totalNonExportableItems"] = "0",
                ["totalMessages"] = messages.ToString(CultureInfo.InvariantCulture),
                ["sha384Hash"] = hash,
                ["totalBytes"] = bytes.ToString(CultureInfo.InvariantCulture),
                ["totalFolders"] = folders.Count.ToString(CultureInfo.InvariantCulture),
                ["startTime"] = job.StartTime.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
                ["endTime"] = end.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture),
            };
            await File.WriteAllTextAsync(Path.ChangeExtension(zipPath, ".json"), log.ToJsonString(), CancellationToken.None).ConfigureAwait(false);
            Update(job.JobId, j => j with { State = "COMPLETED", EstimatedProgress = 100, EndTime = end });
            WorkMailApiLog.ExportCompleted(_logger, job.JobId, messages, bytes);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            TryDelete(temp);
            Update(job.JobId, j => j with { State = "CANCELLED", EndTime = _time.GetUtcNow() });
        }
        catch (Exception e)
        {
            TryDelete(temp);
            WorkMailApiLog.ExportFailed(_logger, e, job.JobId);
            Update(job.JobId, j => j with { State = "FAILED", ErrorInfo = "The export failed: " + e.GetType().Name, EndTime = _time.GetUtcNow() });
        }
        finally
        {
            if (_running.TryRemove(job.JobId, out var run))
                run.Cancel.Dispose();
        }
    }

    private void Update(string jobId, Func<MailboxExportJob, MailboxExportJob> change)
    {
        lock (_gate)
        {
            var before = _jobs[jobId];
            var after = change(before);
            _jobs[jobId] = after;
            if (after.State != before.State)
                Save();
        }
    }

    private void Save()
    {
        Directory.CreateDirectory(_root);
        var temp = _jobsFile + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(_jobs.Values.OrderBy(j => j.StartTime).ToList(), JsonOptions));
        File.Move(temp, _jobsFile, overwrite: true);
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Left for the next run to overwrite.
        }
    }

    /// <summary>Cancels the running jobs and waits for them to end (CANCELLED).</summary>
    public async ValueTask DisposeAsync()
    {
        var running = _running.Values.ToList();
        foreach (var (_, cancel) in running)
            cancel.Cancel();
        await Task.WhenAll(running.Select(r => r.Task)).ConfigureAwait(false);
    }
}
