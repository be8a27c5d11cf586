using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>APPEND (RFC 9051 §6.3.12) with APPENDUID (RFC 4315) and APPENDLIMIT (RFC 7889).</summary>
internal static class AppendHandler
{
    public static async Task<ImapCompletion> RunAsync(AppendCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (command.Messages.Count != 1)
            throw new ImapSyntaxException("Only one message per APPEND"); // MULTIAPPEND is not advertised
        var message = command.Messages[0];
        if (message.Content.Length > session.Options.Limits.MaxMessageBytes)
            throw new ImapRefusedException(ResponseCode.TooBig, "The message is larger than APPENDLIMIT");
        if (message.Content.Length == 0)
            throw new ImapRefusedException(ResponseCode.Cannot, "Empty message");
        var folder = MailboxNames.Require(session, command.Mailbox, tryCreate: true);
        ImapQuota.EnsureRoom(session, message.Content.Length); // RFC 9208 §4.3: NO [OVERQUOTA]
        var (flags, keywords) = ImapFlags.FromWire(message.Flags);
        var internalDate = message.InternalDate ?? session.Time.GetUtcNow();
        var stored = await session.Store.DeliverAsync(message.Content, internalDate,
            [new DeliveryTarget(session.Account.MailboxId, folder.Name, flags)], cancellationToken);
        var copy = stored[0];
        if (keywords.Count > 0)
            await session.Store.SetFlagsAsync(copy.FolderId, [copy.Uid], FlagOperation.Add, MessageFlags.None, keywords, cancellationToken);
        if (session.Selected is { } selected && selected.FolderId == folder.FolderId)
            selected.LoadNewMessages();
        return new ImapCompletion(new ResponseCode.AppendedUids(folder.UidValidity, ResolvedSequenceSet.FromValues([copy.Uid])), "APPEND completed");
    }
}
