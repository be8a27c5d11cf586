using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// SETMETADATA (RFC 5464 §4.3): every entry set (or removed with NIL) in one store write, or none: a value over
/// <see cref="MetadataEntries.MaxValueBytes"/> → NO [METADATA MAXSIZE n], more than
/// <see cref="MetadataEntries.MaxEntries"/> entries → NO [METADATA TOOMANY], a private entry on another user's folder
/// → NO [METADATA NOPRIVATE], a server /shared entry → NO [NOPERM].
/// </summary>
internal static class SetMetadataHandler
{
    public static async Task<ImapCompletion> RunAsync(SetMetadataCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        var entries = command.Entries.Select(e => new KeyValuePair<string, byte[]?>(MetadataEntries.Check(e.Name, forSet: true), e.Value)).ToList();
        var scope = MetadataEntries.Resolve(session, command.Mailbox, forSet: true);
        foreach (var (name, value) in entries)
        {
            if (MetadataEntries.IsPrivate(name) && !scope.PrivateAllowed)
                throw new ImapRefusedException(new ResponseCode.Metadata("NOPRIVATE"), "Private annotations are kept on one's own mailboxes only");
            if (!MetadataEntries.IsPrivate(name) && !scope.SharedWritable)
                throw new ImapRefusedException(ResponseCode.NoPermission, "Shared server annotations are the administrator's");
            if (value is { Length: > MetadataEntries.MaxValueBytes })
                throw new ImapRefusedException(new ResponseCode.Metadata("MAXSIZE", MetadataEntries.MaxValueBytes), "The value is too large");
        }
        try
        {
            await session.Store.SetMetadataAsync(scope.MailboxId, scope.FolderId, entries, MetadataEntries.MaxEntries, cancellationToken);
        }
        catch (MetadataLimitException)
        {
            throw new ImapRefusedException(new ResponseCode.Metadata("TOOMANY"), "Too many annotations");
        }
        return ImapCompletion.Ok("SETMETADATA completed");
    }
}
