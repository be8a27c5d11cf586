using MailServer.Protocols.Imap.Syntax;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>Mailbox names between the wire and the store: '/' is the hierarchy delimiter (RFC 9051 §5.1.1).</summary>
internal static class MailboxNames
{
    public const string Delimiter = "/";

    /// <summary>The Unicode name of a wire mailbox name: modified UTF-7, or UTF-8 as it is once the client enabled
    /// UTF8=ACCEPT or IMAP4rev2 (RFC 6855 §3, RFC 9051 §6.3.1).</summary>
    /// <exception cref="ImapSyntaxException">Not valid modified UTF-7.</exception>
    public static string FromWire(ImapSession session, string wire)
    {
        try
        {
            return MailboxName.FromWire(wire, session.Utf8Enabled);
        }
        catch (FormatException e)
        {
            throw new ImapSyntaxException("Invalid mailbox name: " + e.Message);
        }
    }

    /// <summary>The folder named by the client, or NO [NONEXISTENT] (or [TRYCREATE] for a COPY/APPEND target).</summary>
    /// <exception cref="ImapRefusedException">No such folder.</exception>
    public static FolderInfo Require(ImapSession session, string wire, bool tryCreate = false)
    {
        var name = FromWire(session, wire);
        return session.Store.FindFolder(session.Account.MailboxId, name)
            ?? throw new ImapRefusedException(tryCreate ? ResponseCode.TryCreate : ResponseCode.NonExistent, "No such mailbox");
    }

    /// <summary>The RFC 6154 attribute of a special folder, or null.</summary>
    public static string? SpecialUseAttribute(SpecialUse use) => use switch
    {
        SpecialUse.Sent => @"\Sent",
        SpecialUse.Drafts => @"\Drafts",
        SpecialUse.Trash => @"\Trash",
        SpecialUse.Junk => @"\Junk",
        _ => null,
    };
}
