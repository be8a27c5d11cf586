using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// Builds the message of an APPEND ... CATENATE (RFC 4469 §3): TEXT parts as sent, URL parts replaced by the octets
/// FETCH BODY[section]&lt;partial&gt; would return for the message they name. A URL must name a message of a mailbox
/// the user can open now (their own, or another user's through Full Access), on this server (the host is the
/// server's name) and for this user (no other user's authority, no URLAUTH); else the APPEND fails with
/// <c>NO [BADURL url]</c> naming the first such URL, and nothing is appended. A URL without a mailbox is relative to the
/// selected mailbox (RFC 3986 §5.2 against the selected mailbox's URL).
/// </summary>
internal static class Catenation
{
    /// <summary>The assembled octets, and whether any TEXT part was a literal8 (RFC 3516 §4.4).</summary>
    /// <exception cref="ImapRefusedException">NO [BADURL url], or NO [TOOBIG] past APPENDLIMIT (RFC 4469 §3).</exception>
    public static async Task<(ReadOnlyMemory<byte> Octets, bool Binary)> AssembleAsync(ImapSession session, IReadOnlyList<CatenatePart> parts,
        CancellationToken cancellationToken)
    {
        var limit = session.Options.Limits.MaxMessageBytes;
        using var output = new MemoryStream();
        var binary = false;
        foreach (var part in parts)
        {
            switch (part)
            {
                case CatenatePart.Text text:
                    output.Write(text.Content.Span);
                    binary |= text.Binary;
                    break;
                case CatenatePart.Url url:
                    output.Write((await ResolveAsync(session, url.Value, cancellationToken)).Span);
                    break;
            }
            if (output.Length > limit)
                throw new ImapRefusedException(ResponseCode.TooBig, "The catenated message is larger than APPENDLIMIT");
        }
        return (output.ToArray(), binary);
    }

    private static async Task<ReadOnlyMemory<byte>> ResolveAsync(ImapSession session, string text, CancellationToken cancellationToken)
    {
        var bad = new ImapRefusedException(new ResponseCode.BadUrl(text), "The URL does not name a message this user can read on this server");
        var url = ImapUrl.Parse(text);
        if (url is null || url.HasUrlAuth)
            throw bad;
        // Same server: the host is the server's name (or the loopback names a local client may use).
        if (url.Host is { } host && !host.Equals(session.Options.ServerName, StringComparison.OrdinalIgnoreCase)
            && !host.Equals("localhost", StringComparison.OrdinalIgnoreCase) && host is not ("127.0.0.1" or "[::1]"))
            throw bad;
        // Same user: a URL made for another user's authority is not this session's to use (RFC 5092 §6.1.2).
        var account = session.Account.User;
        if (url.User is { } user && !user.Equals(account.Email, StringComparison.OrdinalIgnoreCase)
            && !user.Equals(account.Email.Split('@')[0], StringComparison.OrdinalIgnoreCase))
            throw bad;
        Storage.FolderInfo? folder;
        string mailboxId;
        string? owner;
        if (url.Mailbox is null)
        {
            if (session.Selected is not { } selected)
                throw bad;
            folder = session.Store.GetFolder(selected.FolderId);
            mailboxId = selected.Folder.MailboxId;
            owner = selected.SharedOwner;
        }
        else
        {
            MailboxLocation location;
            try
            {
                location = MailboxNames.Locate(session, url.Mailbox);
            }
            catch (ImapRefusedException)
            {
                throw bad;
            }
            folder = session.Store.FindFolder(location.MailboxId, location.FolderName);
            mailboxId = location.MailboxId;
            owner = location.Owner?.Email;
        }
        if (folder is null || (url.UidValidity is { } validity && validity != folder.UidValidity))
            throw bad;
        var meta = session.Store.ListMessages(folder.FolderId, url.Uid).FirstOrDefault();
        if (meta is null || meta.Uid != url.Uid)
            throw bad;
        byte[] content;
        try
        {
            content = await session.Store.ReadMessageAsync(mailboxId, meta.EntryId, cancellationToken);
        }
        catch (KeyNotFoundException)
        {
            throw bad; // expunged meanwhile
        }
        ReadOnlyMemory<byte> octets = content;
        if (url.Section is { } spec)
        {
            var section = ImapCommandParser.ParseSectionSpec(spec) ?? throw bad;
            octets = ImapMessageView.Parse(content).Section(section) ?? throw bad;
        }
        if (url.PartialOffset is { } offset)
        {
            // RFC 5092 §5: like FETCH BODY[]<offset.length>: past the end is empty, a length past the end stops there.
            var start = (int)Math.Min(offset, (uint)octets.Length);
            var length = url.PartialLength is { } l ? (int)Math.Min(l, (uint)(octets.Length - start)) : octets.Length - start;
            octets = octets.Slice(start, length);
        }
        session.RecordAccess(MailboxAccessAction.Read, MailboxObjectType.Message, owner, folder.Name, folder.FolderId, [meta.Uid]);
        return octets;
    }
}
