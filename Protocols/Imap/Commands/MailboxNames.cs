using MailServer.Protocols.Imap.Syntax;
using MailServer.Rules.Directory;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>Where a client's mailbox name lives in the store: whose mailbox, and the folder name inside it.</summary>
/// <param name="MailboxId">The store mailbox.</param>
/// <param name="FolderName">The folder's name inside that mailbox.</param>
/// <param name="Owner">The other user whose mailbox this is (opened through Full Access), or null for the user's own.</param>
internal sealed record MailboxLocation(string MailboxId, string FolderName, DirectoryUser? Owner)
{
    /// <summary>The name the client knows the folder by.</summary>
    public string ClientName(string folderName) =>
        Owner is null ? folderName : $"{MailboxNames.OtherUsersRoot}/{Owner.Email}/{folderName}";
}

/// <summary>A folder the client named, with the name to answer it by and the rights the user holds on it now
/// (<see cref="FolderRights"/>; all of them on the user's own folders).</summary>
internal sealed record NamedFolder(FolderInfo Folder, string ClientName, DirectoryUser? Owner, string Rights);

/// <summary>
/// Mailbox names between the wire and the store: '/' is the hierarchy delimiter (RFC 9051 §5.1.1). The personal
/// namespace is "" (the user's own folders); the Other Users namespace (RFC 2342 §5) is <c>Other Users/&lt;owner
/// address&gt;/&lt;folder&gt;</c> for every mailbox the user holds Full Access to or that has a folder shared with the
/// user (SETACL, <see cref="FolderRights"/>), decided from the live directory and store at each command, so a permission
/// edit in the configuration or a SETACL applies to the next command.
/// </summary>
internal static class MailboxNames
{
    public const string Delimiter = "/";

    /// <summary>The root of the Other Users namespace; a \Noselect name.</summary>
    public const string OtherUsersRoot = "Other Users";

    /// <summary>The Unicode name of a wire mailbox name: modified UTF-7, or UTF-8 as it is once the client enabled
    /// UTF8=ACCEPT or IMAP4rev2 (RFC 6855 §3, RFC 9051 §6.3.1).</summary>
    /// <exception cref="ImapRefusedException">NO [NONEXISTENT]: not valid modified UTF-7. Such a name is still valid
    /// syntax (an atom or string, RFC 9051 §5.1.3), and no mailbox has it.</exception>
    public static string FromWire(ImapSession session, string wire) =>
        TryFromWire(session, wire) ?? throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox");

    /// <summary>As <see cref="FromWire"/>, or null for a name that is not valid modified UTF-7 (a LIST pattern then
    /// matches nothing).</summary>
    public static string? TryFromWire(ImapSession session, string wire)
    {
        try
        {
            return MailboxName.FromWire(wire, session.Utf8Enabled);
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The Unicode name a CREATE or RENAME is to give a folder, a trailing delimiter dropped (RFC 9051 §6.3.4).</summary>
    /// <exception cref="ImapRefusedException">NO [CANNOT]: empty, an empty level ("a//b", "/a"), or the Other Users
    /// root; NO [ALREADYEXISTS]: INBOX.</exception>
    /// <exception cref="ImapRefusedException">NO [CANNOT]: also for a name that is not valid modified UTF-7.</exception>
    public static string NewName(ImapSession session, string wire)
    {
        var name = (TryFromWire(session, wire) ?? throw new ImapRefusedException(ResponseCode.Cannot, "The name is not valid modified UTF-7"))
            .TrimEnd('/');
        if (name.Length == 0 || name.Contains("//", StringComparison.Ordinal) || name.StartsWith('/'))
            throw new ImapRefusedException(ResponseCode.Cannot, "Invalid mailbox name");
        if (name.Equals(MailboxName.Inbox, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.AlreadyExists, "INBOX exists already");
        if (name.Equals(OtherUsersRoot, StringComparison.OrdinalIgnoreCase))
            throw new ImapRefusedException(ResponseCode.Cannot, "That name is the Other Users namespace");
        return name;
    }

    /// <summary>True for "Other Users" and any name below it.</summary>
    public static bool IsOtherUsersName(string name) =>
        name.Equals(OtherUsersRoot, StringComparison.OrdinalIgnoreCase)
        || name.StartsWith(OtherUsersRoot + Delimiter, StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Where a (Unicode) name lives: the user's own mailbox, or another user's mailbox the user has Full Access to.
    /// RFC 4314 §6: a mailbox the user may not see is answered as if it did not exist.
    /// </summary>
    /// <exception cref="ImapRefusedException">NO [NONEXISTENT]: "Other Users" itself, an owner without a folder
    /// part, an unknown owner, or one the user holds no Full Access to.</exception>
    /// <param name="session">The session.</param>
    /// <param name="name">The Unicode name.</param>
    /// <param name="auditAs">When given, a refusal because the user holds no Full Access to an existing owner is
    /// recorded as this action with action_allowed false (WorkMail Administrator Guide, "Mailbox access logs").</param>
    /// <param name="objectType">What the audited action acts on.</param>
    public static MailboxLocation Locate(ImapSession session, string name, MailboxAccessAction? auditAs = null,
        MailboxObjectType objectType = MailboxObjectType.Folder)
    {
        if (!IsOtherUsersName(name))
            return new MailboxLocation(session.Account.MailboxId, name, null);
        var rest = name.Length > OtherUsersRoot.Length ? name[(OtherUsersRoot.Length + 1)..] : "";
        var slash = rest.IndexOf('/');
        if (slash <= 0 || slash == rest.Length - 1)
            throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox");
        var owner = FullAccessOwner(session, rest[..slash]) ?? SharingOwner(session, rest[..slash]);
        if (owner is null)
        {
            if (auditAs is { } action && session.Directory?.Current.FindUser(rest[..slash]) is { } refused)
                session.RecordAccess(action, objectType, refused.Email, rest[(slash + 1)..], null, allowed: false);
            throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox");
        }
        var mailbox = session.Store.FindMailbox(owner.OrganizationId, owner.Email)
            ?? throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox");
        return new MailboxLocation(mailbox.MailboxId, rest[(slash + 1)..], owner);
    }

    /// <summary>The owner named by <paramref name="address"/> when the session's user holds Full Access to their
    /// mailbox now (MailDirectory.RightsOn over the live directory), else null.</summary>
    public static DirectoryUser? FullAccessOwner(ImapSession session, string address)
    {
        if (session.Directory?.Current is not { } directory)
            return null;
        if (directory.FindUser(address) is not { Enabled: true } owner || directory.FindUser(session.Account.User.Email) is not { } grantee)
            return null;
        if (string.Equals(owner.Email, grantee.Email, StringComparison.OrdinalIgnoreCase))
            return null; // the user's own mailbox is the personal namespace
        return directory.RightsOn(owner, grantee).HasFlag(MailboxRights.FullAccess) ? owner : null;
    }

    /// <summary>The owner named by <paramref name="address"/> when a folder of their mailbox is shared with the
    /// session's user now (an owner's SETACL entry with the lookup right), else null.</summary>
    public static DirectoryUser? SharingOwner(ImapSession session, string address)
    {
        if (session.Directory?.Current is not { } directory || directory.FindUser(address) is not { Enabled: true } owner
            || string.Equals(owner.Email, session.Account.User.Email, StringComparison.OrdinalIgnoreCase))
            return null;
        return session.Store.FindMailbox(owner.OrganizationId, owner.Email) is { } mailbox && FolderRights.SharesAnyFolderWith(session, owner, mailbox.MailboxId)
            ? owner
            : null;
    }

    /// <summary>The other users of the organization with a folder shared with the session's user now (not through Full
    /// Access), in directory order.</summary>
    public static IReadOnlyList<DirectoryUser> SharingOwners(ImapSession session)
    {
        if (session.Directory?.Current is not { } directory)
            return [];
        var organization = session.Account.User.OrganizationId;
        return directory.Users
            .Where(u => u.Enabled && u.OrganizationId == organization && !string.Equals(u.Email, session.Account.User.Email, StringComparison.OrdinalIgnoreCase))
            .Where(u => FullAccessOwner(session, u.Email) is null && SharingOwner(session, u.Email) is not null)
            .ToList();
    }

    /// <summary>The other users whose mailboxes the session's user may open now, in configuration order.</summary>
    public static IReadOnlyList<DirectoryUser> FullAccessOwners(ImapSession session)
    {
        if (session.Directory?.Current is not { } directory || directory.FindUser(session.Account.User.Email) is not { } grantee)
            return [];
        return directory.FullAccessMailboxesOf(grantee).Where(o => o.Enabled).ToList();
    }

    /// <summary>The folder named by the client, or NO [NONEXISTENT] (or [TRYCREATE] for a COPY/APPEND target).</summary>
    /// <exception cref="ImapRefusedException">No such folder, or not one the user may open.</exception>
    public static FolderInfo Require(ImapSession session, string wire, bool tryCreate = false) =>
        RequireNamed(session, wire, tryCreate).Folder;

    /// <summary>As <see cref="Require"/>, with the name to answer by and the owner for another user's folder.</summary>
    /// <exception cref="ImapRefusedException">No such folder, or not one the user may open.</exception>
    public static NamedFolder RequireNamed(ImapSession session, string wire, bool tryCreate = false, MailboxAccessAction? auditAs = null)
    {
        var location = Locate(session, FromWire(session, wire), auditAs,
            auditAs is MailboxAccessAction.ReadHierarchy ? MailboxObjectType.Folder : MailboxObjectType.Message);
        var folder = session.Store.FindFolder(location.MailboxId, location.FolderName)
            ?? throw new ImapRefusedException(tryCreate && location.Owner is null ? ResponseCode.TryCreate : ResponseCode.NonExistent, "No such mailbox");
        var rights = FolderRights.Of(session, location.Owner?.Email, location.MailboxId, folder.FolderId);
        if (!rights.Contains('l', StringComparison.Ordinal))
        {
            // RFC 4314 §6: a folder the user may not look up is answered as if it did not exist.
            if (auditAs is { } action)
                session.RecordAccess(action, MailboxObjectType.Folder, location.Owner?.Email, folder.Name, null, allowed: false);
            throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox");
        }
        return new NamedFolder(folder, location.ClientName(folder.Name), location.Owner, rights);
    }

    /// <summary>
    /// For CREATE, DELETE and RENAME in another user's mailbox: the right <paramref name="right"/> on the folder
    /// <paramref name="folderName"/> (RFC 4314 §4: x on the folder for DELETE and a RENAME's source), or, with
    /// <paramref name="onParent"/>, on its parent (k for CREATE and a RENAME's new name; a top-level name has only
    /// Full Access to go by). Nothing to check in the user's own mailbox.
    /// </summary>
    /// <exception cref="ImapRefusedException">NO [NONEXISTENT]: the folder exists and the user may not look it up;
    /// NO [NOPERM]: the right is not held.</exception>
    public static void RequireRight(ImapSession session, MailboxLocation location, string folderName, char right, string what, bool onParent = false)
    {
        if (location.Owner is null)
            return;
        var name = folderName;
        if (onParent)
        {
            var slash = folderName.LastIndexOf('/');
            name = slash > 0 ? folderName[..slash] : "";
        }
        var folder = name.Length == 0 ? null : session.Store.FindFolder(location.MailboxId, name);
        var rights = FolderRights.Of(session, location.Owner.Email, location.MailboxId, folder?.FolderId);
        if (folder is not null && !onParent && !rights.Contains('l', StringComparison.Ordinal))
            throw new ImapRefusedException(ResponseCode.NonExistent, "No such mailbox"); // RFC 4314 §6
        FolderRights.Require(rights, right, what);
    }

    /// <summary>The RFC 6154 attribute of a special folder, or null.</summary>
    public static string? SpecialUseAttribute(SpecialUse use) => use switch
    {
        SpecialUse.Sent => @"\Sent",
        SpecialUse.Drafts => @"\Drafts",
        SpecialUse.Trash => @"\Trash",
        SpecialUse.Junk => @"\Junk",
        SpecialUse.Archive => @"\Archive",
        _ => null,
    };
}
