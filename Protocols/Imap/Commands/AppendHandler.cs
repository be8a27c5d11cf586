using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315), APPENDLIMIT (RFC 7889), MULTIAPPEND (RFC 3502: several
/// messages, all stored or none), the UTF8 data extension (RFC 6855 §4, after ENABLE UTF8=ACCEPT) and binary content
/// as <c>~{n}</c> (RFC 3516; parts holding NUL are stored base64-encoded, see <see cref="BinaryContent"/>).
/// </summary>
internal static class AppendHandler
{
    public static async Task<ImapCompletion> RunAsync(AppendCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var items = new List<AppendItem>(command.Messages.Count);
        foreach (var message in command.Messages)
        {
            // RFC 6855 §4: the UTF8 form is only for a client that enabled UTF8=ACCEPT.
            if (message.Utf8 && !session.Utf8Enabled)
                throw new ImapSyntaxException("APPEND UTF8 needs ENABLE UTF8=ACCEPT");
            if (message.Content.Length > session.Options.Limits.MaxMessageBytes)
                throw new ImapRefusedException(ResponseCode.TooBig, "The message is larger than APPENDLIMIT");
            if (message.Content.Length == 0)
                throw new ImapRefusedException(ResponseCode.Cannot, "Empty message");
            var (flags, keywords) = ImapFlags.FromWire(message.Flags);
            ReadOnlyMemory<byte> content;
            try
            {
                content = message.Binary ? BinaryContent.ToStorableForm(message.Content) : message.Content; // RFC 3516: NUL only in a base64 part
            }
            catch (UnknownTransferEncodingException)
            {
                throw new ImapRefusedException(ResponseCode.UnknownTransferEncoding, "The message holds NUL octets outside any part's content");
            }
            items.Add(new AppendItem(content, message.InternalDate ?? session.Time.GetUtcNow(), flags, keywords));
        }
        var named = MailboxNames.RequireNamed(session, command.Mailbox, tryCreate: true, auditAs: MailboxAccessAction.Create);
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
}
