using MailServer.Protocols.Imap.Messages;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>Builds the <see cref="SearchContext"/> of a message for SEARCH, SORT and THREAD: the header section is
/// read from the store only when a key asks for it, the full message only when <c>needsFull</c>.</summary>
internal static class MessageContexts
{
    /// <returns>The context, or null when the message was expunged meanwhile.</returns>
    public static async Task<SearchContext?> CreateAsync(ImapSession session, int seq, MessageMeta meta, bool needsFull,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var mailboxId = session.Account.MailboxId;
        ImapMessageView? full = null;
        if (needsFull)
        {
            try
            {
                full = ImapMessageView.Parse(await session.Store.ReadMessageAsync(mailboxId, meta.EntryId, cancellationToken));
            }
            catch (KeyNotFoundException)
            {
                return null;
            }
        }
        ImapMessageView? headers = null;
        return new SearchContext((uint)seq, meta.Uid, meta.Flags, meta.Keywords, meta.InternalDate, meta.Size, meta.ModSeq,
            Headers: () => full ?? (headers ??= ReadHeaders(session, mailboxId, meta.EntryId)),
            Full: () => full ?? throw new InvalidOperationException("The full message was not loaded."),
            Now: now);
    }

    private static ImapMessageView ReadHeaders(ImapSession session, string mailboxId, string entryId)
    {
        try
        {
            return ImapMessageView.ParseHeaderOnly(session.Store.ReadHeaderSection(mailboxId, entryId));
        }
        catch (KeyNotFoundException)
        {
            // Expunged by another session meanwhile: it has no header fields to match.
            return ImapMessageView.ParseHeaderOnly("\r\n"u8.ToArray());
        }
    }
}
