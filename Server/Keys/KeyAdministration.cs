using System.Collections.Concurrent;
using System.Threading.Channels;
using MailServer.Server.Configuration;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MailServer.Rules.Addressing;

namespace MailServer.Server.Keys;

/// <summary>A master key version as <c>mailserver keys status</c> shows it.</summary>
public sealed record KeyVersionView(int Version, string State, string? Location, long Mailboxes, long InTransit);

/// <summary>A mailbox whose owner is no longer a user of the configuration: <c>mailserver mailbox delete</c> shreds it.</summary>
public sealed record AwaitingShreddingView(string Address, string MailboxId, long Messages, long Bytes);

/// <summary>A rotation the running server is doing or did (since it started).</summary>
public sealed record RotationView(int Version, string State, long Done, long Total, double Seconds, string? Error, IReadOnlyList<int> VersionsLeftToOperator);

/// <summary>A mailbox key rotation (<c>keys rotate --mailbox</c>): running, done, failed, or interrupted and waiting to resume.</summary>
public sealed record MailboxRotationView(string Address, string MailboxId, int Generation, string State, long Done, long Total, double Seconds, string? Error);

/// <summary>One organization's keys: versions with what refers to them, shredded mailboxes, mailboxes awaiting shredding, the rotations.</summary>
public sealed record KeyStatusView(string Organization, string Alias, string Provider, int CurrentVersion, IReadOnlyList<KeyVersionView> Versions,
    long LegacyMailboxes, int ShreddedMailboxes, IReadOnlyList<AwaitingShreddingView> AwaitingShredding, RotationView? Rotation,
    int ReplacedMailboxKeys, IReadOnlyList<MailboxRotationView> MailboxRotations);

/// <summary>The outcome of <c>mailserver keys rotate --mailbox</c>.</summary>
public sealed record MailboxRotationResultView(string Address, string MailboxId, int Generation, long Rewrapped, double Seconds, bool Resumed, bool OlderCopiesNeedRotation);

/// <summary>The outcome of <c>mailserver mailbox delete</c>.</summary>
public sealed record MailboxDeleteView(string Address, string MailboxId, int Messages, int FilesDeleted, bool OlderCopiesNeedRotation);

/// <summary>
/// Key administration shared by the CLI (server stopped: on the store) and the admin listener (server running):
/// the status of each organization's master key versions and what awaits shredding, and deleting a mailbox.
/// </summary>
public static class KeyAdministration
{
    /// <summary>The key status of every configured organization (or the one with alias <paramref name="alias"/>).</summary>
    /// <exception cref="ArgumentException">No organization has that alias.</exception>
    public static IReadOnlyList<KeyStatusView> Status(IKeyAdministrationStore store, ServerConfig config, string? alias, IReadOnlyDictionary<string, RotationView>? rotations = null,
        IReadOnlyDictionary<string, MailboxRotationView>? mailboxRotations = null)
    {
        var result = new List<KeyStatusView>();
        foreach (var org in Organizations(config, alias))
        {
            var status = store.KeyStatusOf(org.Id);
            var versions = new List<KeyVersionView>();
            var numbers = status.Available.Select(a => a.Version).Concat(status.MailboxesByVersion.Keys).Concat(status.TransitByVersion.Keys)
                .Append(status.CurrentVersion).Distinct().Order();
            foreach (var v in numbers)
            {
                var available = status.Available.FirstOrDefault(a => a.Version == v);
                var state = v == status.CurrentVersion ? "current"
                    : status.RetiringVersions.Contains(v) ? "retiring"
                    : available is not null ? "retired (remove it)" : "missing";
                versions.Add(new KeyVersionView(v, state, available?.Location, status.MailboxesByVersion.GetValueOrDefault(v),
                    status.TransitByVersion.GetValueOrDefault(v)));
            }
            var users = org.Users.Select(u => u.Email.ToLowerInvariant()).ToHashSet(StringComparer.Ordinal);
            var awaiting = store.ListMailboxes(org.Id).Where(m => !users.Contains(m.Owner.ToLowerInvariant()))
                .Select(m => new AwaitingShreddingView(m.Owner, m.MailboxId, m.MessageCount, m.UsedBytes)).ToList();
            var mailboxes = store.ListMailboxes(org.Id).ToDictionary(m => m.MailboxId, StringComparer.Ordinal);
            var known = (mailboxRotations?.Values ?? []).Where(r => mailboxes.ContainsKey(r.MailboxId)).ToList();
            var interrupted = store.MailboxKeyRotationsPending(org.Id).Where(id => known.All(r => r.MailboxId != id))
                .Select(id => new MailboxRotationView(mailboxes.GetValueOrDefault(id)?.Owner ?? id, id, 0, "interrupted (resumes at the next start or run)", 0, 0, 0, null));
            result.Add(new KeyStatusView(org.Id, org.Alias, org.MasterKeySource.Provider.ToString(), status.CurrentVersion, versions,
                status.LegacyMailboxes, status.ShreddedMailboxes, awaiting, rotations?.GetValueOrDefault(org.Id),
                status.DestroyedMailboxKeys, [.. known, .. interrupted]));
        }
        return result;
    }

    /// <summary>
    /// Deletes the mailbox of <paramref name="address"/> and destroys its key. Refused while the address is still a
    /// user (or alias) in the configuration: a mailbox is shredded only after its user was removed.
    /// </summary>
    /// <exception cref="ArgumentException">The address belongs to no organization's domain, or is still configured.</exception>
    /// <exception cref="KeyNotFoundException">There is no mailbox for the address.</exception>
    public static async Task<MailboxDeleteView> DeleteMailboxAsync(IKeyAdministrationStore store, ServerConfig config, string address, CancellationToken cancellationToken)
    {
        var normalised = address.Trim().ToLowerInvariant();
        var domain = AddressSyntax.DomainOf(normalised);
        var org = config.Organizations.FirstOrDefault(o => o.Domains.Any(d => d.Name == domain))
                  ?? throw new ArgumentException($"{address} is not in a domain of any organization");
        if (org.Users.Any(u => u.Email.Equals(normalised, StringComparison.OrdinalIgnoreCase) || u.Aliases.Any(a => a.Equals(normalised, StringComparison.OrdinalIgnoreCase))))
            throw new ArgumentException($"{address} is still a user in the configuration: remove it there first (its mail stops being accepted), then delete its mailbox");
        var result = await store.DeleteMailboxAsync(org.Id, normalised, cancellationToken).ConfigureAwait(false)
                     ?? throw new KeyNotFoundException($"{address} has no mailbox");
        return new MailboxDeleteView(normalised, result.MailboxId, result.Messages, result.FilesDeleted, result.OlderCopiesNeedRotation);
    }

    /// <summary>The organization and the mailbox of <paramref name="address"/> (a user's address or alias).</summary>
    /// <exception cref="ArgumentException">The address belongs to no organization's domain.</exception>
    /// <exception cref="KeyNotFoundException">There is no mailbox for the address.</exception>
    public static (OrganizationConfig Organization, MailboxInfo Mailbox) ResolveMailbox(IKeyAdministrationStore store, ServerConfig config, string address)
    {
        var normalised = address.Trim().ToLowerInvariant();
        var domain = AddressSyntax.DomainOf(normalised);
        var org = config.Organizations.FirstOrDefault(o => o.Domains.Any(d => d.Name.Equals(domain, StringComparison.OrdinalIgnoreCase)))
                  ?? throw new ArgumentException($"{address} is not in a domain of any organization");
        var owner = org.Users.FirstOrDefault(u => u.Aliases.Any(a => a.Equals(normalised, StringComparison.OrdinalIgnoreCase)))?.Email ?? normalised;
        var mailbox = store.FindMailbox(org.Id, owner) ?? throw new KeyNotFoundException($"{address} has no mailbox");
        return (org, mailbox);
    }

    /// <summary>The organization with alias <paramref name="alias"/> (all when null).</summary>
    /// <exception cref="ArgumentException">No organization has that alias.</exception>
    public static IReadOnlyList<OrganizationConfig> Organizations(ServerConfig config, string? alias)
    {
        if (alias is null)
            return config.Organizations;
        return config.Organizations.Where(o => o.Alias == alias || o.Id == alias).ToList() is { Count: > 0 } found
            ? found
            : throw new ArgumentException($"no organization has the alias '{alias}'");
    }
}

/// <summary>
/// Runs master key rotations in the background of the running server, one at a time, while mail flows; at start
/// it resumes any rotation a crash or a stop interrupted (the key ledger records it).
/// </summary>
public sealed class KeyRotationService(IKeyAdministrationStore store, Func<ServerConfig> config, ILogger<KeyRotationService> logger) : BackgroundService
{
    private readonly Channel<string> _requests = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, RotationView> _rotations = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, MailboxRotationView> _mailboxRotations = new(StringComparer.Ordinal);
    private CancellationToken _stopping = CancellationToken.None;

    /// <summary>Rotations since the server started, by organization id.</summary>
    public IReadOnlyDictionary<string, RotationView> Rotations => _rotations;

    /// <summary>Mailbox key rotations since the server started, by mailbox id.</summary>
    public IReadOnlyDictionary<string, MailboxRotationView> MailboxRotations => _mailboxRotations;

    /// <summary>
    /// Gives a mailbox a new key (or resumes its interrupted rotation) in the background of the running server; the
    /// returned task ends with the rotation. It goes on when the caller stops waiting; a stop of the server interrupts it
    /// and the next start resumes it.
    /// </summary>
    public Task<MailboxKeyRotationResult> RotateMailbox(string address, string mailboxId)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        _mailboxRotations[mailboxId] = new MailboxRotationView(address, mailboxId, 0, "running", 0, 0, 0, null);
        var progress = new InlineProgress<MailboxKeyRotationProgress>(p => _mailboxRotations[mailboxId] = new MailboxRotationView(address, mailboxId, p.Generation,
            "running", p.Done, p.Total, System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, null));
        return Task.Run(async () =>
        {
            try
            {
                var result = await Store.RotateMailboxKeyAsync(mailboxId, progress, _stopping).ConfigureAwait(false);
                _mailboxRotations[mailboxId] = new MailboxRotationView(address, mailboxId, result.Generation, "done", result.Rewrapped, result.Rewrapped,
                    result.Elapsed.TotalSeconds, null);
                KeysLog.MailboxKeyRotated(logger, mailboxId, result.Generation, result.Rewrapped);
                return result;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                KeysLog.MailboxKeyRotationFailed(logger, e, mailboxId);
                var last = _mailboxRotations.GetValueOrDefault(mailboxId);
                _mailboxRotations[mailboxId] = new MailboxRotationView(address, mailboxId, last?.Generation ?? 0, "failed", last?.Done ?? 0, last?.Total ?? 0,
                    System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, e.Message);
                throw;
            }
        });
    }

    private IKeyAdministrationStore Store => store;

    /// <summary>Starts a rotation of <paramref name="organizationId"/> (or joins the one running). Returns the new version.</summary>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and it was not provisioned.</exception>
    public int Request(string organizationId)
    {
        var version = Store.BeginRotation(organizationId);
        _rotations[organizationId] = new RotationView(version, "running", 0, 0, 0, null, []);
        _requests.Writer.TryWrite(organizationId);
        return version;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        foreach (var org in config().Organizations)
        {
            try
            {
                if (Store.MailboxKeyRotationsPending(org.Id).Count > 0)
                {
                    KeysLog.MailboxKeyRotationsResumed(logger, org.Alias, Store.MailboxKeyRotationsPending(org.Id).Count);
                    await Store.ResumeMailboxKeyRotationsAsync(org.Id, null, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                KeysLog.MailboxKeyRotationFailed(logger, e, org.Alias);
            }
            try
            {
                if (Store.KeyStatusOf(org.Id).RetiringVersions.Count > 0)
                {
                    KeysLog.RotationResumed(logger, org.Alias);
                    _requests.Writer.TryWrite(org.Id);
                }
            }
            catch (Exception e) when (e is IOException or InvalidDataException or KeyNotFoundException or System.Security.Cryptography.CryptographicException)
            {
                KeysLog.LedgerUnreadable(logger, e, org.Alias);
            }
        }
        await foreach (var organizationId in _requests.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var progress = new InlineProgress<RotationProgress>(p => _rotations[organizationId] = new RotationView(p.Version, "running", p.Done, p.Total,
                System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, null, []));
            try
            {
                var result = await Store.RotateAsync(organizationId, start: false, progress, stoppingToken).ConfigureAwait(false);
                _rotations[organizationId] = new RotationView(result.Version, "done", result.Rewrapped, result.Rewrapped, result.Elapsed.TotalSeconds, null,
                    result.VersionsLeftToOperator);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return; // resumed at the next start
            }
            catch (Exception e)
            {
                KeysLog.RotationFailed(logger, e, organizationId);
                var last = _rotations.GetValueOrDefault(organizationId);
                _rotations[organizationId] = new RotationView(last?.Version ?? 0, "failed", last?.Done ?? 0, last?.Total ?? 0,
                    System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, e.Message, []);
            }
        }
    }
}

/// <summary>Key administration log events: ids 9100–9119. Never a key.</summary>
internal static partial class KeysLog
{
    [LoggerMessage(EventId = 9100, Level = LogLevel.Information, Message = "Resuming the master key rotation of organization {Alias} interrupted before")]
    public static partial void RotationResumed(ILogger logger, string alias);

    [LoggerMessage(EventId = 9101, Level = LogLevel.Error, Message = "The master key rotation of organization {OrganizationId} failed; it resumes at the next request or start")]
    public static partial void RotationFailed(ILogger logger, Exception exception, string organizationId);

    [LoggerMessage(EventId = 9102, Level = LogLevel.Error, Message = "The key ledger of organization {Alias} cannot be read")]
    public static partial void LedgerUnreadable(ILogger logger, Exception exception, string alias);

    [LoggerMessage(EventId = 9103, Level = LogLevel.Warning, Message = "Mailbox {MailboxId} deleted by the administrator and its key destroyed ({Messages} messages)")]
    public static partial void MailboxDeleted(ILogger logger, string mailboxId, int messages);

    [LoggerMessage(EventId = 9105, Level = LogLevel.Information, Message = "Resuming {Count} mailbox key rotation(s) of organization {Alias} interrupted before")]
    public static partial void MailboxKeyRotationsResumed(ILogger logger, string alias, int count);

    [LoggerMessage(EventId = 9106, Level = LogLevel.Information, Message = "Mailbox {MailboxId} has a new key (generation {Generation}); {Rewrapped} message keys re-wrapped, the previous key destroyed")]
    public static partial void MailboxKeyRotated(ILogger logger, string mailboxId, int generation, long rewrapped);

    [LoggerMessage(EventId = 9107, Level = LogLevel.Error, Message = "The mailbox key rotation of {Target} failed; it resumes at the next request or start")]
    public static partial void MailboxKeyRotationFailed(ILogger logger, Exception exception, string target);

    [LoggerMessage(EventId = 9104, Level = LogLevel.Information, Message = "Backup to {Directory}: {Messages} messages, {Files} files copied ({Bytes} bytes) in {Milliseconds} ms")]
    public static partial void BackupDone(ILogger logger, string directory, long messages, long files, long bytes, long milliseconds);
}
