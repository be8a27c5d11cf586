using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>Where the annotations of a GETMETADATA / SETMETADATA mailbox name live (RFC 5464 §3).</summary>
/// <param name="MailboxId">The store mailbox holding them.</param>
/// <param name="FolderId">The folder, or null for the server entries.</param>
/// <param name="PrivateAllowed">False for another user's folder (Full Access): private entries there are NOPRIVATE.</param>
/// <param name="SharedWritable">False for the server's /shared entries, which are the administrator's.</param>
internal sealed record MetadataScope(string MailboxId, string? FolderId, bool PrivateAllowed, bool SharedWritable);

/// <summary>
/// METADATA (RFC 5464) names and scopes. Server entries ("" mailbox): /private ones are the user's own, kept on their
/// mailbox; /shared ones are read-only (none are published). Mailbox entries: kept with the folder in the owner's
/// mailbox, sealed under its key; /shared ones are seen and set by whoever can open the folder (the owner, Full Access),
/// /private ones only on one's own folders.
/// </summary>
internal static class MetadataEntries
{
    /// <summary>The largest value accepted (RFC 5464 §4.3: larger → NO [METADATA MAXSIZE n]).</summary>
    public const int MaxValueBytes = 16 * 1024;

    /// <summary>Entries kept per folder, or per user for the server (RFC 5464 §4.3: more → NO [METADATA TOOMANY]).</summary>
    public const int MaxEntries = 50;

    /// <summary>The scope of <paramref name="wireMailbox"/>.</summary>
    /// <exception cref="ImapRefusedException">NO [NONEXISTENT] for a mailbox the user cannot open; NO [NOPERM] on a
    /// shared folder without r (or, <paramref name="forSet"/>, without w: an annotation is folder data a viewer does not
    /// change; our reading of RFC 4314 §2.1's "w - write").</exception>
    public static MetadataScope Resolve(ImapSession session, string wireMailbox, bool forSet)
    {
        if (wireMailbox.Length == 0)
            return new MetadataScope(session.Account.MailboxId, null, PrivateAllowed: true, SharedWritable: false);
        var named = MailboxNames.RequireNamed(session, wireMailbox);
        // A shared folder's annotations are read with r, like its messages (RFC 4314 §2.1); see SetMetadataHandler for w.
        FolderRights.Require(named.Rights, 'r', "read annotations");
        if (forSet)
            FolderRights.Require(named.Rights, 'w', "change annotations");
        return new MetadataScope(named.Folder.MailboxId, named.Folder.FolderId, PrivateAllowed: named.Owner is null, SharedWritable: true);
    }

    /// <summary>
    /// Checks an entry name (RFC 5464 §3.2): "/" then printable ASCII, no "*" or "%", no "//", no trailing "/", under
    /// /private or /shared (for SETMETADATA strictly below them). Returns it lower-cased: names are case-insensitive.
    /// </summary>
    /// <exception cref="ImapSyntaxException">Not a valid entry name (BAD).</exception>
    public static string Check(string name, bool forSet)
    {
        var valid = name.Length > 1 && name[0] == '/' && !name.EndsWith('/') && !name.Contains("//", StringComparison.Ordinal)
                    && name.All(c => c is > ' ' and < (char)0x7F and not ('*' or '%'));
        var lower = name.ToLowerInvariant();
        var underPrivate = lower.StartsWith("/private/", StringComparison.Ordinal);
        var underShared = lower.StartsWith("/shared/", StringComparison.Ordinal);
        if (!valid || !(underPrivate || underShared || (!forSet && lower is "/private" or "/shared")))
            throw new ImapSyntaxException($"Invalid metadata entry name {name}");
        return lower;
    }

    /// <summary>True for an entry under /private.</summary>
    public static bool IsPrivate(string lowerName) => lowerName == "/private" || lowerName.StartsWith("/private/", StringComparison.Ordinal);
}
