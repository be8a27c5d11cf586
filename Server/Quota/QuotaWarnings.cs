using System.Globalization;
using System.Text.Json;
using MailServer.Rules.Directory;
using MailServer.Server.Audit;
using MailServer.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using MimeKit.Utils;

namespace MailServer.Server.Quota;

/// <summary>
/// The 90% mailbox quota warning (docs/decisions.md, "Limits": a warning at 90%): a user whose mailbox reaches 90% of
/// its quota gets one warning message in the Inbox; another only after usage has gone below 90% and crossed it
/// again. Who has been warned is kept in <c>&lt;DataDirectory&gt;/quota-warnings.json</c>, so a restart does not warn
/// again. Thread-safe (one check at a time).
/// </summary>
public sealed class QuotaWarnings
{
    /// <summary>The share of the quota at which the warning is sent.</summary>
    public const double Threshold = 0.9;

    private readonly IDeliveryStore _store;
    private readonly string _stateFile;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);
    private readonly HashSet<string> _warned;

    /// <summary>Creates the checker; reads who was warned from <paramref name="dataDirectory"/>.</summary>
    public QuotaWarnings(IDeliveryStore store, string dataDirectory, TimeProvider? time = null, ILogger? logger = null)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _stateFile = Path.Combine(dataDirectory, "quota-warnings.json");
        _time = time ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _warned = Load(_stateFile);
    }

    /// <summary>
    /// Checks every enabled user's mailbox: sends the warning to each that is at or above 90% and not yet warned,
    /// and forgets the warning of each that went back below. Returns the addresses warned now.
    /// </summary>
    public async Task<IReadOnlyList<string>> CheckAsync(MailDirectory directory, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(directory);
        await _oneAtATime.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var sent = new List<string>();
            var changed = false;
            foreach (var user in directory.Users.Where(u => u.Enabled))
            {
                var key = user.OrganizationId + "|" + user.Email;
                var mailbox = _store.FindMailbox(user.OrganizationId, user.Email);
                var over = mailbox is not null && mailbox.UsedBytes >= Threshold * user.MailboxQuotaBytes;
                if (!over)
                {
                    changed |= _warned.Remove(key);
                    continue;
                }
                if (_warned.Contains(key))
                    continue;
                var organization = directory.Organizations.First(o => o.Id == user.OrganizationId);
                try
                {
                    await _store.DeliverAsync(Warning(user, organization, directory.PostmasterAddress(organization)!, mailbox!.UsedBytes), _time.GetUtcNow(),
                        [new DeliveryTarget(mailbox.MailboxId, WellKnownFolders.Inbox)], cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is IOException or ArgumentException or KeyNotFoundException)
                {
                    GovernanceLog.QuotaWarningFailed(_logger, e, user.Email);
                    continue;
                }
                _warned.Add(key);
                changed = true;
                sent.Add(user.Email);
                GovernanceLog.QuotaWarningSent(_logger, user.Email, mailbox.UsedBytes, user.MailboxQuotaBytes);
            }
            if (changed)
                Save();
            return sent;
        }
        finally
        {
            _oneAtATime.Release();
        }
    }

    /// <summary>
    /// The warning message: from postmaster of the organization's default domain (an address that reaches the
    /// organization's postmaster, MailDirectory.PostmasterOf), auto-generated (RFC 3834 §5).
    /// </summary>
    private byte[] Warning(DirectoryUser user, DirectoryOrganization organization, string postmaster, long usedBytes)
    {
        static string MiB(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("0.0", CultureInfo.InvariantCulture);
        var percent = (int)Math.Floor(100.0 * usedBytes / user.MailboxQuotaBytes);
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Mail Server", postmaster));
        message.To.Add(new MailboxAddress(user.DisplayName, user.Email));
        message.Subject = $"Your mailbox is {percent}% full";
        message.Date = _time.GetUtcNow();
        message.MessageId = MimeUtils.GenerateMessageId(organization.DefaultDomain);
        message.Headers.Add("Auto-Submitted", "auto-generated"); // RFC 3834 §5: no auto-replies to this
        message.Body = new TextPart("plain")
        {
            Text = $"Your mailbox uses {MiB(usedBytes)} MiB of its {MiB(user.MailboxQuotaBytes)} MiB quota ({percent}%).\r\n\r\n" +
                   "When it is full, new messages sent to you are refused. Delete messages you no longer need and\r\n" +
                   "empty Deleted Items to make room.\r\n",
        };
        using var buffer = new MemoryStream();
        message.WriteTo(FormatOptions.Default, buffer);
        return buffer.ToArray();
    }

    private static HashSet<string> Load(string path)
    {
        try
        {
            return File.Exists(path)
                ? JsonSerializer.Deserialize<HashSet<string>>(File.ReadAllBytes(path)) ?? []
                : [];
        }
        catch (JsonException)
        {
            return []; // a damaged file costs at most one repeated warning
        }
    }

    private void Save()
    {
        var temp = _stateFile + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(_warned.Order(StringComparer.Ordinal)));
        File.Move(temp, _stateFile, overwrite: true);
    }
}

/// <summary>Checks the quota warnings every minute (and a few seconds after start).</summary>
public sealed class QuotaWarningService(QuotaWarnings warnings, IDirectorySource directory, ILogger<QuotaWarningService> logger) : BackgroundService
{
    /// <summary>Time between checks.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromSeconds(10);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(delay, stoppingToken).ConfigureAwait(false);
                await warnings.CheckAsync(directory.Current, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // A maintenance job must never stop the mail server (a BackgroundService's exception stops the host).
                GovernanceLog.QuotaWarningFailed(logger, e, "(every user)");
            }
            delay = Interval;
        }
    }
}
