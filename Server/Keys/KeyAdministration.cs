using System.Collections.Concurrent;
using System.Threading.Channels;
using MailServer.Server.Configuration;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace MailServer.Server.Keys;

/// <summary>A master key version as <c>mailserver keys status</c> shows it.</summary>
public sealed record KeyVersionView(int Version, string State, string? Location, long Mailboxes, long InTransit);

/// <summary>A mailbox whose owner is no longer a user of the configuration: <c>mailserver mailbox delete</c> shreds it.</summary>
public sealed record AwaitingShreddingView(string Address, string MailboxId, long Messages, long Bytes);

/// <summary>A rotation the running server is doing or did (since it started).</summary>
public sealed record RotationView(int Version, string State, long Done, long Total, double Seconds, string? Error, IReadOnlyList<int> VersionsLeftToOperator);

/// <summary>One organization's keys: versions with what refers to them, shredded mailboxes, mailboxes awaiting shredding, the rotation.</summary>
public sealed record KeyStatusView(string Organization, string Alias, string Provider, int CurrentVersion, IReadOnlyList<KeyVersionView> Versions,
    long LegacyMailboxes, int ShreddedMailboxes, IReadOnlyList<AwaitingShreddingView> AwaitingShredding, RotationView? Rotation);

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
    public static IReadOnlyList<KeyStatusView> Status(MailStore store, ServerConfig config, string? alias, IReadOnlyDictionary<string, RotationView>? rotations = null)
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
            result.Add(new KeyStatusView(org.Id, org.Alias, org.MasterKeySource.Provider.ToString(), status.CurrentVersion, versions,
                status.LegacyMailboxes, status.ShreddedMailboxes, awaiting, rotations?.GetValueOrDefault(org.Id)));
        }
        return result;
    }

    /// <summary>
    /// Deletes the mailbox of <paramref name="address"/> and destroys its key. Refused while the address is still a
    /// user (or alias) in the configuration: a mailbox is shredded only after its user was removed.
    /// </summary>
    /// <exception cref="ArgumentException">The address belongs to no organization's domain, or is still configured.</exception>
    /// <exception cref="KeyNotFoundException">There is no mailbox for the address.</exception>
    public static async Task<MailboxDeleteView> DeleteMailboxAsync(MailStore store, ServerConfig config, string address, CancellationToken cancellationToken)
    {
        var normalised = address.Trim().ToLowerInvariant();
        var domain = normalised[(normalised.LastIndexOf('@') + 1)..];
        var org = config.Organizations.FirstOrDefault(o => o.Domains.Any(d => d.Name == domain))
                  ?? throw new ArgumentException($"{address} is not in a domain of any organization");
        if (org.Users.Any(u => u.Email.Equals(normalised, StringComparison.OrdinalIgnoreCase) || u.Aliases.Any(a => a.Equals(normalised, StringComparison.OrdinalIgnoreCase))))
            throw new ArgumentException($"{address} is still a user in the configuration: remove it there first (its mail stops being accepted), then delete its mailbox");
        var result = await store.DeleteMailboxAsync(org.Id, normalised, cancellationToken).ConfigureAwait(false)
                     ?? throw new KeyNotFoundException($"{address} has no mailbox");
        return new MailboxDeleteView(normalised, result.MailboxId, result.Messages, result.FilesDeleted, result.OlderCopiesNeedRotation);
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
public sealed class KeyRotationService(IMailStore store, Func<ServerConfig> config, ILogger<KeyRotationService> logger) : BackgroundService
{
    private readonly Channel<string> _requests = Channel.CreateUnbounded<string>();
    private readonly ConcurrentDictionary<string, RotationView> _rotations = new(StringComparer.Ordinal);

    /// <summary>Rotations since the server started, by organization id.</summary>
    public IReadOnlyDictionary<string, RotationView> Rotations => _rotations;

    private MailStore Store => (MailStore)store;

    /// <summary>Starts a rotation of <paramref name="organizationId"/> (or joins the one running). Returns the new version.</summary>
    /// <exception cref="NotSupportedException">The provider cannot create the next version and it was not provisioned.</exception>
    public int Request(string organizationId)
    {
        var ledger = Store.Ledger(organizationId);
        var version = ledger.BeginRotation();
        _rotations[organizationId] = new RotationView(version, "running", 0, 0, 0, null, []);
        _requests.Writer.TryWrite(organizationId);
        return version;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        foreach (var org in config().Organizations)
        {
            try
            {
                if (Store.Ledger(org.Id).RetiringVersions.Count > 0)
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
            var progress = new Progress<RotationProgress>(p => _rotations[organizationId] = new RotationView(p.Version, "running", p.Done, p.Total,
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

    [LoggerMessage(EventId = 9104, Level = LogLevel.Information, Message = "Backup to {Directory}: {Messages} messages, {Files} files copied ({Bytes} bytes) in {Milliseconds} ms")]
    public static partial void BackupDone(ILogger logger, string directory, long messages, long files, long bytes, long milliseconds);
}
