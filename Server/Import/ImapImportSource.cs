using System.Net;
using System.Runtime.CompilerServices;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Storage;
using MessageFlags = MailServer.Storage.MessageFlags;

namespace MailServer.Server.Import;

/// <summary>How to reach the IMAP server an import pulls from.</summary>
/// <param name="Host">Host name or address.</param>
/// <param name="Port">Port (993 with <see cref="ImapSourceSecurity.Tls"/>, else 143).</param>
/// <param name="Security">Implicit TLS, STARTTLS, or none (loopback and test servers only).</param>
/// <param name="Login">The user name to log in with: the mailbox's own, or an administrator's (with <paramref name="AuthorizeAs"/>).</param>
/// <param name="Password">The password (never logged, never written to the job file).</param>
/// <param name="AuthorizeAs">With an administrator's login: the mailbox to open, as the SASL PLAIN authorization identity
/// (RFC 4616 §2), where the source server supports it (Dovecot master users, for example).</param>
/// <param name="AcceptAnyCertificate">Skips certificate validation (a server with a self-signed certificate).</param>
public sealed record ImapSourceOptions(string Host, int Port, ImapSourceSecurity Security, string Login, string Password, string? AuthorizeAs,
    bool AcceptAnyCertificate);

/// <summary>The transport security of an IMAP source.</summary>
public enum ImapSourceSecurity
{
    Tls,
    StartTls,
    None,
}

/// <summary>
/// Pulls a mailbox from any IMAP server with MailKit: every selectable folder of the personal namespace (special-use
/// attributes from LIST, RFC 6154), read-only (EXAMINE, RFC 9051 §6.3.3: no flag changes on the source), and per
/// folder the UID, FLAGS (system flags and keywords) and INTERNALDATE of each message after the checkpoint's UID,
/// then the octets with BODY.PEEK[] in batches of up to 64 messages or 8 MiB, so that one round trip carries many
/// small messages. The cursor is the UID; a checkpoint is used only under the same UIDVALIDITY (RFC 9051 §2.3.1.1).
/// </summary>
public sealed class ImapImportSource(ImapSourceOptions options) : IImportSource
{
    private const int BatchMessages = 64;
    private const long BatchBytes = 8 * 1024 * 1024;
    private readonly ImapClient _client = new();

    /// <inheritdoc />
    public string Description => $"imap://{options.Login}@{options.Host}:{options.Port}" + (options.AuthorizeAs is null ? "" : $" as {options.AuthorizeAs}");

    private async Task EnsureConnectedAsync(CancellationToken cancellationToken)
    {
        if (_client.IsAuthenticated)
            return;
        try
        {
            if (options.AcceptAnyCertificate)
                _client.ServerCertificateValidationCallback = (_, _, _, _) => true;
            var security = options.Security switch
            {
                ImapSourceSecurity.Tls => SecureSocketOptions.SslOnConnect,
                ImapSourceSecurity.StartTls => SecureSocketOptions.StartTls,
                _ => SecureSocketOptions.None,
            };
            await _client.ConnectAsync(options.Host, options.Port, security, cancellationToken).ConfigureAwait(false);
            if (options.AuthorizeAs is { } target)
                await _client.AuthenticateAsync(new SaslMechanismPlain(new NetworkCredential(options.Login, options.Password)) { AuthorizationId = target },
                    cancellationToken).ConfigureAwait(false);
            else
                await _client.AuthenticateAsync(options.Login, options.Password, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is AuthenticationException or ImapProtocolException or ImapCommandException or IOException
                                      or System.Net.Sockets.SocketException or SslHandshakeException)
        {
            throw new ImportSourceException($"cannot log in to {Description}: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<SourceFolder>> ListFoldersAsync(CancellationToken cancellationToken)
    {
        await EnsureConnectedAsync(cancellationToken).ConfigureAwait(false);
        var folders = new List<SourceFolder>();
        try
        {
            var inbox = _client.Inbox;
            folders.Add(new SourceFolder(WellKnownFolders.Inbox));
            foreach (var ns in _client.PersonalNamespaces)
            {
                foreach (var folder in await _client.GetFoldersAsync(ns, subscribedOnly: false, cancellationToken: cancellationToken).ConfigureAwait(false))
                {
                    if (folder.Attributes.HasFlag(FolderAttributes.NoSelect) || folder.Attributes.HasFlag(FolderAttributes.NonExistent)
                        || folder.FullName.Equals(inbox.FullName, StringComparison.OrdinalIgnoreCase))
                        continue;
                    folders.Add(new SourceFolder(PathOf(folder), SpecialUseOf(folder.Attributes), folder.FullName));
                }
            }
        }
        catch (Exception e) when (e is ImapProtocolException or ImapCommandException or IOException)
        {
            throw new ImportSourceException($"cannot list the folders of {Description}: {e.Message}", e);
        }
        // Parents before children, so each target folder's parent exists first.
        return folders.OrderBy(f => f.Path == WellKnownFolders.Inbox ? 0 : 1).ThenBy(f => f.Path, StringComparer.Ordinal).ToList();
    }

    /// <summary>The folder's name with '/' between levels (a '/' inside a level, under another delimiter, becomes '_').</summary>
    private static string PathOf(IMailFolder folder)
    {
        var delimiter = folder.DirectorySeparator;
        var parts = delimiter == '\0' ? [folder.FullName] : folder.FullName.Split(delimiter);
        return string.Join('/', parts.Select(p => delimiter == '/' ? p : p.Replace('/', '_')));
    }

    private static SourceSpecialUse SpecialUseOf(FolderAttributes attributes) =>
        attributes.HasFlag(FolderAttributes.Sent) ? SourceSpecialUse.Sent
        : attributes.HasFlag(FolderAttributes.Drafts) ? SourceSpecialUse.Drafts
        : attributes.HasFlag(FolderAttributes.Trash) ? SourceSpecialUse.Trash
        : attributes.HasFlag(FolderAttributes.Junk) ? SourceSpecialUse.Junk
        : attributes.HasFlag(FolderAttributes.Archive) ? SourceSpecialUse.Archive
        : attributes.HasFlag(FolderAttributes.All) ? SourceSpecialUse.All
        : attributes.HasFlag(FolderAttributes.Flagged) ? SourceSpecialUse.Flagged
        : SourceSpecialUse.None;

    private async Task<IMailFolder> OpenAsync(SourceFolder folder, CancellationToken cancellationToken)
    {
        await EnsureConnectedAsync(cancellationToken).ConfigureAwait(false);
        var mailFolder = folder.Path == WellKnownFolders.Inbox ? _client.Inbox
            : await _client.GetFolderAsync(folder.Handle, cancellationToken).ConfigureAwait(false);
        if (!mailFolder.IsOpen)
            await mailFolder.OpenAsync(FolderAccess.ReadOnly, cancellationToken).ConfigureAwait(false);
        return mailFolder;
    }

    /// <summary>The UIDs after the cursor (a cursor is "UIDVALIDITY:UID").</summary>
    private async Task<(IMailFolder Folder, IList<IMessageSummary> Messages)> PendingAsync(SourceFolder folder, string? afterCursor, CancellationToken cancellationToken)
    {
        try
        {
            var mailFolder = await OpenAsync(folder, cancellationToken).ConfigureAwait(false);
            var start = 1u;
            if (afterCursor?.Split(':') is [var validity, var uid] && validity == mailFolder.UidValidity.ToString(System.Globalization.CultureInfo.InvariantCulture)
                && uint.TryParse(uid, out var last))
                start = last + 1;
            if (mailFolder.Count == 0 || start == 0)
                return (mailFolder, []);
            var range = new UniqueIdRange(new UniqueId(mailFolder.UidValidity, start), UniqueId.MaxValue);
            var summaries = await mailFolder.FetchAsync(range,
                MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.InternalDate | MessageSummaryItems.Size,
                cancellationToken).ConfigureAwait(false);
            // UID n:* matches the highest UID even when it is below n (RFC 9051 §6.4.8): drop it.
            return (mailFolder, summaries.Where(s => s.UniqueId.Id >= start).OrderBy(s => s.UniqueId.Id).ToList());
        }
        catch (Exception e) when (e is ImapProtocolException or ImapCommandException or FolderNotFoundException or IOException)
        {
            throw new ImportSourceException($"cannot read folder {folder.Path} of {Description}: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public async Task<int?> CountAsync(SourceFolder folder, string? afterCursor, CancellationToken cancellationToken) =>
        (await PendingAsync(folder, afterCursor, cancellationToken).ConfigureAwait(false)).Messages.Count;

    /// <inheritdoc />
    public async IAsyncEnumerable<SourceMessage> ReadAsync(SourceFolder folder, string? afterCursor, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var (mailFolder, pending) = await PendingAsync(folder, afterCursor, cancellationToken).ConfigureAwait(false);
        var validity = mailFolder.UidValidity.ToString(System.Globalization.CultureInfo.InvariantCulture);
        for (var i = 0; i < pending.Count;)
        {
            // One batch: up to 64 messages or 8 MiB (a larger message alone), fetched in one command.
            var batch = new List<IMessageSummary> { pending[i++] };
            var bytes = (long)(batch[0].Size ?? 0);
            while (i < pending.Count && batch.Count < BatchMessages && bytes + (long)(pending[i].Size ?? 0) <= BatchBytes)
            {
                bytes += (long)(pending[i].Size ?? 0);
                batch.Add(pending[i++]);
            }
            var bodies = new Dictionary<uint, byte[]>();
            Exception? batchError = null;
            try
            {
                if (mailFolder is ImapFolder imapFolder)
                    await imapFolder.GetStreamsAsync(batch.Select(s => s.UniqueId).ToList(), async (_, _, uid, stream, ct) =>
                    {
                        using var copy = new MemoryStream();
                        await stream.CopyToAsync(copy, ct).ConfigureAwait(false);
                        bodies[uid.Id] = copy.ToArray();
                    }, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ImapCommandException)
            {
                batchError = e; // e.g. a message the server cannot parse: each message of the batch is tried alone below
            }
            foreach (var summary in batch)
            {
                var uid = summary.UniqueId;
                var flags = MessageFlags.None;
                var f = summary.Flags ?? MailKit.MessageFlags.None;
                if (f.HasFlag(MailKit.MessageFlags.Seen)) flags |= MessageFlags.Seen;
                if (f.HasFlag(MailKit.MessageFlags.Answered)) flags |= MessageFlags.Answered;
                if (f.HasFlag(MailKit.MessageFlags.Flagged)) flags |= MessageFlags.Flagged;
                if (f.HasFlag(MailKit.MessageFlags.Deleted)) flags |= MessageFlags.Deleted;
                if (f.HasFlag(MailKit.MessageFlags.Draft)) flags |= MessageFlags.Draft;
                var keywords = summary.Keywords?.ToList() ?? [];
                bodies.TryGetValue(uid.Id, out var body);
                yield return new SourceMessage($"{validity}:{uid.Id}", $"{folder.Path} UID {uid.Id}", async ct =>
                {
                    if (body is not null)
                        return body;
                    // Not in the batch's answer (or the batch failed): ask for this message alone, so the error names it.
                    try
                    {
                        using var stream = await mailFolder.GetStreamAsync(uid, ct).ConfigureAwait(false);
                        using var copy = new MemoryStream();
                        await stream.CopyToAsync(copy, ct).ConfigureAwait(false);
                        return copy.ToArray();
                    }
                    catch (Exception e) when (e is ImapCommandException or MessageNotFoundException)
                    {
                        throw new InvalidDataException($"the server did not send the message{(batchError is null ? "" : $" ({batchError.Message})")}: {e.Message}", e);
                    }
                }, summary.InternalDate, flags, keywords);
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try { await _client.DisconnectAsync(quit: true).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or ImapProtocolException or ObjectDisposedException) { /* the import's outcome is known already */ }
        }
        _client.Dispose();
    }
}
