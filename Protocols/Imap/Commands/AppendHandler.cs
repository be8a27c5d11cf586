using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315), APPENDLIMIT (RFC 7889), MULTIAPPEND (RFC 3502: several
/// messages, all stored or none), the UTF8 data extension (RFC 6855 §4, after ENABLE UTF8=ACCEPT), binary content
/// as <c>~{n}</c> (RFC 3516; parts holding NUL are stored base64-encoded, see <see cref="BinaryContent"/>) and
/// CATENATE (RFC 4469, see <see cref="Catenation"/>).
/// </summary>
internal static class AppendHandler
{
    public static async Task<ImapCompletion> RunAsync(AppendCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var items = new List<AppendItem>(command.Messages.Count);
        foreach (var message in command.Messages)
            items.Add(await PrepareAsync(session, message, cancellationToken));
        var named = MailboxNames.RequireNamed(session, command.Mailbox, tryCreate: true, auditAs: MailboxAccessAction.Create);
        FolderRights.Require(named.Rights, 'i', "add messages"); // RFC 4314 §4: i
        for (var i = 0; i < items.Count; i++)
            items[i] = FolderRights.KeepSettableFlags(named.Rights, items[i]);
        var folder = named.Folder;
        ImapQuota.EnsureRoom(session, items.Sum(i => (long)i.Message.Length), named.Owner); // RFC 9208 §4.3: NO [OVERQUOTA]
        // RFC 3502 §6.3.11: one store transaction, so a failure leaves none of the messages appended.
        var stored = await session.Store.AppendAsync(folder.MailboxId, folder.Name, items, cancellationToken);
        if (session.Selected is { } selected && selected.FolderId == folder.FolderId)
            selected.LoadNewMessages();
        session.RecordAccess(MailboxAccessAction.Create, MailboxObjectType.Message, named.Owner?.Email, folder.Name, folder.FolderId,
            stored.Select(s => s.Uid).ToList()); // WorkMail Administrator Guide, "Mailbox access logs"
        return new ImapCompletion(new ResponseCode.AppendedUids(folder.UidValidity, ResolvedSequenceSet.FromValues(stored.Select(s => s.Uid))),
            "APPEND completed");
    }

    /// <summary>
    /// Turns one append-message (APPEND, MULTIAPPEND, REPLACE) into what the store keeps: the octets (a CATENATE
    /// message assembled from its parts), checked against APPENDLIMIT, with its flags and internal date.
    /// </summary>
    /// <exception cref="ImapSyntaxException">UTF8 data without ENABLE UTF8=ACCEPT.</exception>
    /// <exception cref="ImapRefusedException">Too big (TOOBIG), empty, NUL outside a part (UNKNOWN-CTE), a CATENATE
    /// URL that cannot be used (BADURL).</exception>
    public static async Task<AppendItem> PrepareAsync(ImapSession session, AppendMessage message, CancellationToken cancellationToken)
    {
        // RFC 6855 §4: the UTF8 form is only for a client that enabled UTF8=ACCEPT.
        if (message.Utf8 && !session.Utf8Enabled)
            throw new ImapSyntaxException("APPEND UTF8 needs ENABLE UTF8=ACCEPT");
        var binary = message.Binary;
        var octets = message.Content;
        if (message.Catenate is { } parts)
            (octets, binary) = await Catenation.AssembleAsync(session, parts, cancellationToken);
        if (octets.Length > session.Options.Limits.MaxMessageBytes)
            throw new ImapRefusedException(ResponseCode.TooBig, "The message is larger than APPENDLIMIT"); // RFC 7889 §3, RFC 4469 §3.3
        if (octets.Length == 0)
            throw new ImapRefusedException(ResponseCode.Cannot, "Empty message");
        var (flags, keywords) = ImapFlags.FromWire(message.Flags);
        ReadOnlyMemory<byte> content;
        try
        {
            content = binary ? BinaryContent.ToStorableForm(octets) : octets; // RFC 3516: NUL only in a base64 part
        }
        catch (UnknownTransferEncodingException)
        {
            throw new ImapRefusedException(ResponseCode.UnknownTransferEncoding, "The message holds NUL octets outside any part's content");
        }
        return new AppendItem(content, message.InternalDate ?? session.Time.GetUtcNow(), flags, keywords);
    }
}
