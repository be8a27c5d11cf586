using MailServer.Protocols.Imap.Messages;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>Builds the <see cref="SearchContext"/> of a message for SEARCH, SORT and THREAD, reading from the store
/// only what the keys need: the header section (<c>needsHeaders</c>) or the full message (<c>needsFull</c>).</summary>
internal static class MessageContexts
{
    /// <summary>The <see cref="SearchContext.Headers"/> loader of a context built without the header section.</summary>
    public static readonly Func<ImapMessageView> HeadersNotLoaded = () => throw new InvalidOperationException("The header section was not loaded.");

    /// <summary>The <see cref="SearchContext.Full"/> loader of a context built without the message.</summary>
    public static readonly Func<ImapMessageView> FullNotLoaded = () => throw new InvalidOperationException("The full message was not loaded.");

    /// <summary>The context of a message from its metadata alone (SEARCH keeps only its numbers), without loaders.</summary>
    public static SearchContext FromMetadata(ImapSession session, int seq, MessageMeta meta, DateTimeOffset now) =>
        new((uint)seq, meta.Uid, meta.Flags, meta.Keywords, meta.InternalDate, meta.Size, meta.ModSeq, HeadersNotLoaded, FullNotLoaded,
            Recent: session.Selected!.IsRecent(meta.Uid), Now: now)
        {
            SavedAt = meta.SavedAt,
            ContentKey = meta.ContentKey,
        };

    /// <returns>The context, or null when the message was expunged meanwhile.</returns>
    public static async Task<SearchContext?> CreateAsync(ImapSession session, int seq, MessageMeta meta, bool needsHeaders, bool needsFull,
        DateTimeOffset now, CancellationToken cancellationToken)
    {
        var mailboxId = session.Selected!.Folder.MailboxId;
        ImapMessageView? full = null;
        ImapMessageView? headers = null;
        Func<Stream>? openBody = null;
        try
        {
            // A big message's BODY / TEXT read its structure off the stored stream and then only its text parts, by
            // range (issue 21): an attachment is never decrypted for a body search.
            if (needsFull && meta.Size >= session.Options.Limits.StreamedFetchBytes && StreamedStructure(session, meta, mailboxId, cancellationToken) is { } scanned)
            {
                full = scanned;
                openBody = () => session.Store.OpenMessage(mailboxId, meta.EntryId);
            }
            if (needsHeaders && !needsFull)
            {
                var section = session.Store.ReadHeaderSection(mailboxId, meta.EntryId);
                // The store keeps at most 256 KiB of header; a longer header is read from the message itself.
                if (ImapMessageView.IsCompleteHeaderSection(section, meta.Size))
                    headers = ImapMessageView.ParseHeaderOnly(section);
            }
            if (full is null && (needsFull || (needsHeaders && headers is null)))
                full = ImapMessageView.Parse(await session.Store.ReadMessageAsync(mailboxId, meta.EntryId, cancellationToken));
        }
        catch (KeyNotFoundException)
        {
            return null;
        }
        return new SearchContext((uint)seq, meta.Uid, meta.Flags, meta.Keywords, meta.InternalDate, meta.Size, meta.ModSeq,
            Headers: () => full ?? headers ?? throw new InvalidOperationException("The header section was not loaded."),
            Full: () => full ?? throw new InvalidOperationException("The full message was not loaded."),
            Recent: session.Selected!.IsRecent(meta.Uid), Now: now)
        {
            SavedAt = meta.SavedAt,
            ContentKey = meta.ContentKey,
            OpenBody = openBody,
        };
    }

    // The streamed structure of a big message (the selected mailbox's cache first), or null when its header sections are
    // too large to hold apart, in which case the message is read whole as before.
    private static ImapMessageView? StreamedStructure(ImapSession session, MessageMeta meta, string mailboxId, CancellationToken cancellationToken)
    {
        var selected = session.Selected!;
        if (selected.Structures.Get(meta.EntryId) is { } cached)
            return cached;
        using var body = session.Store.OpenMessage(mailboxId, meta.EntryId);
        try
        {
            var view = ImapMessageView.ScanStream(body, cancellationToken: cancellationToken);
            selected.Structures.Add(meta.EntryId, view);
            session.Logger.SearchStructureScanned(meta.Uid, meta.Size);
            return view;
        }
        catch (MimeStructureTooLargeException)
        {
            return null;
        }
    }
}
