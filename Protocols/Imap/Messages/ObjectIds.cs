using System.Globalization;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Messages;

/// <summary>
/// OBJECTID (RFC 8474) identifiers, objectid = 1*255(ALPHA / DIGIT / "_" / "-"). MAILBOXID is "F" and the folder's
/// store id, which RENAME keeps (§4); EMAILID is "M" and the message's content key in hex, the same for every copy
/// of the message in the mailbox, so COPY and MOVE keep it (§5.1). THREADID is NIL: the server keeps no thread ids
/// (§5.2 lets a server answer NIL), so SEARCH THREADID matches nothing.
/// </summary>
public static class ObjectIds
{
    /// <summary>The MAILBOXID of a folder.</summary>
    public static string MailboxId(FolderInfo folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        return "F" + folder.FolderId;
    }

    /// <summary>The EMAILID of a message with content key <paramref name="contentKey"/>.</summary>
    public static string EmailId(UInt128 contentKey) => "M" + contentKey.ToString("x32", CultureInfo.InvariantCulture);

    /// <summary>The content key an EMAILID names; false for an id this server never gives.</summary>
    public static bool TryParseEmailId(string id, out UInt128 contentKey)
    {
        ArgumentNullException.ThrowIfNull(id);
        contentKey = default;
        return id.Length == 33 && id[0] == 'M'
            && UInt128.TryParse(id.AsSpan(1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out contentKey);
    }
}
