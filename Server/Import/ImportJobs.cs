using System.Collections.Concurrent;
using MailServer.Server.Configuration;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Import;

/// <summary>
/// Import jobs inside the running server (the store is the server's): started by <c>POST /admin/imports</c>, run in
/// the background, one at a time per job id, watched through their checkpoint records. At start, a job whose
/// record says Running was cut off by a crash or a kill: it is marked Interrupted (the password of an IMAP source
/// is never stored, so the admin resumes it by running the same command). At stop, running jobs are cancelled and
/// keep their checkpoint.
/// </summary>
public sealed class ImportJobs(IMailboxImportStore store, ConfigMonitor monitor, ILogger<ImportJobs> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, (Task Task, CancellationTokenSource Cancel)> _running = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, ImportJobRecord> _live = new(StringComparer.Ordinal);
    private CancellationToken _stopping;

    private string DataDirectory => monitor.Config.DataDirectory;

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        foreach (var job in ImportJobRecord.LoadAll(DataDirectory).Where(j => j.State == ImportJobState.Running))
        {
            job.State = ImportJobState.Interrupted;
            job.Save(DataDirectory);
            ImportLog.Interrupted(logger, job.JobId);
        }
        return Task.CompletedTask;
    }

    /// <summary>Starts (or resumes) the job of <paramref name="request"/>; answers its record at the start.</summary>
    /// <exception cref="ArgumentException">The request is invalid.</exception>
    /// <exception cref="InvalidOperationException">That job is running already.</exception>
    /// <exception cref="ImportSourceException">The source file cannot be opened.</exception>
    public ImportJobRecord Start(ImportRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var user = request.Validate(monitor.Current);
        var id = request.JobId(user);
        if (_running.TryGetValue(id, out var existing) && !existing.Task.IsCompleted)
            throw new InvalidOperationException($"import {id} is running already");
        var source = request.Open();
        var job = request.NewOrResumed(DataDirectory, user, source.Description);
        job.State = ImportJobState.Running;
        job.UpdateTime = DateTimeOffset.UtcNow;
        job.Save(DataDirectory);
        var started = Snapshot(job); // taken before the importer's thread starts changing the record
        _live[id] = started;
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(_stopping);
        var importer = new MailboxImporter(store, DataDirectory, logger);
        var target = new ImportTarget(user.OrganizationId, user.Email, () => monitor.Current.FindUser(user.Email)?.MailboxQuotaBytes);
        var task = Task.Run(async () =>
        {
            await using (source.ConfigureAwait(false))
                await importer.RunAsync(job, source, target, request.MarkSeen, request.RatePerSecond,
                    snapshot => _live[id] = Snapshot(snapshot), cancel.Token).ConfigureAwait(false);
            if (job.State == ImportJobState.Cancelled && _stopping.IsCancellationRequested)
            {
                job.State = ImportJobState.Interrupted; // the server is stopping: the same command resumes it
                job.Save(DataDirectory);
            }
            _live[id] = Snapshot(job);
        }, CancellationToken.None);
        _running[id] = (task, cancel);
        return started;
    }

    /// <summary>A copy of the record (the importer goes on changing its own).</summary>
    private static ImportJobRecord Snapshot(ImportJobRecord job) => ImportJobRecord.FromJson(job.ToJson());

    /// <summary>The job's record: live while it runs, else its checkpoint file; null when unknown.</summary>
    public ImportJobRecord? Get(string jobId) =>
        _live.TryGetValue(jobId, out var live) ? live : ImportJobRecord.Load(DataDirectory, jobId);

    /// <summary>Every job known to the data directory, newest first.</summary>
    public IReadOnlyList<ImportJobRecord> List() =>
        ImportJobRecord.LoadAll(DataDirectory).Select(j => _live.GetValueOrDefault(j.JobId) ?? j).ToList();

    /// <summary>Cancels a running job; false when it is not running.</summary>
    public bool Cancel(string jobId)
    {
        if (!_running.TryGetValue(jobId, out var running) || running.Task.IsCompleted)
            return false;
        running.Cancel.Cancel();
        return true;
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (_, (task, cancel)) in _running)
        {
            await cancel.CancelAsync().ConfigureAwait(false);
            try { await task.WaitAsync(cancellationToken).ConfigureAwait(false); }
            catch (OperationCanceledException) { /* shutdown deadline */ }
        }
    }
}
