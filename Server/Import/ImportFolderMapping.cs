using MailServer.Storage;

namespace MailServer.Server.Import;

/// <summary>
/// Where a source folder lands in our mailbox. Special-use folders (RFC 6154 §2 attributes when the source gives
/// them, else the names other servers and clients use for them) become the WorkMail folders every mailbox has:
/// Sent Items, Drafts, Deleted Items, Junk E-mail; archives become "Archive". Every other folder keeps its name and
/// hierarchy ('/' separated). Virtual folders that only repeat other folders' messages (\All, \Flagged: Gmail's
/// All Mail and Starred) are skipped, or every message would be imported twice.
/// </summary>
public static class ImportFolderMapping
{
    /// <summary>The folder archives land in (WorkMail's web client archives into a folder of this name).</summary>
    public const string Archive = "Archive";

    private static readonly Dictionary<string, SourceSpecialUse> WellKnownNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Sent"] = SourceSpecialUse.Sent, ["Sent Items"] = SourceSpecialUse.Sent, ["Sent Messages"] = SourceSpecialUse.Sent,
        ["Sent Mail"] = SourceSpecialUse.Sent, ["[Gmail]/Sent Mail"] = SourceSpecialUse.Sent, ["INBOX/Sent"] = SourceSpecialUse.Sent,
        ["Drafts"] = SourceSpecialUse.Drafts, ["Draft"] = SourceSpecialUse.Drafts, ["[Gmail]/Drafts"] = SourceSpecialUse.Drafts,
        ["INBOX/Drafts"] = SourceSpecialUse.Drafts,
        ["Trash"] = SourceSpecialUse.Trash, ["Deleted Items"] = SourceSpecialUse.Trash, ["Deleted Messages"] = SourceSpecialUse.Trash,
        ["Bin"] = SourceSpecialUse.Trash, ["[Gmail]/Trash"] = SourceSpecialUse.Trash, ["[Gmail]/Bin"] = SourceSpecialUse.Trash,
        ["INBOX/Trash"] = SourceSpecialUse.Trash,
        ["Junk"] = SourceSpecialUse.Junk, ["Junk E-mail"] = SourceSpecialUse.Junk, ["Junk Email"] = SourceSpecialUse.Junk,
        ["Spam"] = SourceSpecialUse.Junk, ["Bulk Mail"] = SourceSpecialUse.Junk, ["[Gmail]/Spam"] = SourceSpecialUse.Junk,
        ["INBOX/Junk"] = SourceSpecialUse.Junk, ["INBOX/Spam"] = SourceSpecialUse.Junk,
        ["Archive"] = SourceSpecialUse.Archive, ["Archives"] = SourceSpecialUse.Archive, ["INBOX/Archive"] = SourceSpecialUse.Archive,
        ["[Gmail]/All Mail"] = SourceSpecialUse.All, ["[Gmail]/Starred"] = SourceSpecialUse.Flagged,
    };

    /// <summary>Our folder name for <paramref name="folder"/>, or null when the folder is skipped (a virtual folder).</summary>
    public static string? TargetName(SourceFolder folder)
    {
        ArgumentNullException.ThrowIfNull(folder);
        var path = folder.Path.Trim('/');
        if (path.Length == 0 || string.Equals(path, WellKnownFolders.Inbox, StringComparison.OrdinalIgnoreCase))
            return WellKnownFolders.Inbox;
        var use = folder.SpecialUse != SourceSpecialUse.None ? folder.SpecialUse : WellKnownNames.GetValueOrDefault(path);
        return use switch
        {
            SourceSpecialUse.Sent => WellKnownFolders.SentItems,
            SourceSpecialUse.Drafts => WellKnownFolders.Drafts,
            SourceSpecialUse.Trash => WellKnownFolders.DeletedItems,
            SourceSpecialUse.Junk => WellKnownFolders.JunkEmail,
            SourceSpecialUse.Archive => Archive,
            SourceSpecialUse.All or SourceSpecialUse.Flagged => null,
            _ => path.StartsWith("INBOX/", StringComparison.OrdinalIgnoreCase) ? WellKnownFolders.Inbox + path[5..] : path,
        };
    }
}
