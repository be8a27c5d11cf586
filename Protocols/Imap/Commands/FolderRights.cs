using MailServer.Protocols.Imap.Syntax;
using MailServer.Rules.Directory;
using MailServer.Storage;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// The rights a user holds on a folder (RFC 4314 §2.1), from two sources (README "Sharing folders"): the
/// configuration's Full Access (the administrator's, every right but <c>a</c>) and the owner's sharing
/// entries kept sealed with the folder (SETACL). The owner holds every right. Decided from the live directory and the
/// store at each call, so a change applies to the next command.
/// </summary>
internal static class FolderRights
{
    /// <summary>Every right RFC 4314 §2.1 defines, in the order the server writes them.</summary>
    public const string All = "lrswipkxtea";

    /// <summary>What Full Access (WorkMail Administrator Guide, "Mailbox permissions") gives on every folder: everything
    /// but administer, so an administrator's delegate reads and files mail but does not re-share the owner's folders.</summary>
    public const string FullAccess = "lrswipkxte";

    /// <summary>The roles a sharing entry can hold (the WorkDocs-style roles WorkMail users know), smallest first; a rights string is
    /// normalised onto one of them.</summary>
    public static IReadOnlyList<(string Role, string Rights)> Roles { get; } =
    [
        ("viewer", "lrs"),
        ("contributor", "lrswi"),
        ("co-owner", "lrswipkxte"),
        ("owner", "lrswipkxtea"),
    ];

    /// <summary>RFC 4314 §3.7: the rights that can be granted, tied the way the roles tie them. The virtual rights
    /// c (= k, "create") and d (= x t e, "delete") travel with their members (§2.1.1).</summary>
    public static IReadOnlyList<string> GrantableGroups { get; } = ["lrs", "wi", "pkxtecd", "a"];

    /// <summary>The rights the session's user holds on the folder <paramref name="folderId"/> of
    /// <paramref name="ownerAddress"/>'s mailbox <paramref name="mailboxId"/> (null owner: the user's own: all; null
    /// folder: what Full Access alone gives).</summary>
    public static string Of(ImapSession session, string? ownerAddress, string mailboxId, string? folderId) =>
        InMailbox(session, ownerAddress, mailboxId)(folderId);

    /// <summary>As <see cref="Of"/> for many folders of one mailbox: the directory and the sealed entries are read once.</summary>
    public static Func<string?, string> InMailbox(ImapSession session, string? ownerAddress, string mailboxId)
    {
        if (ownerAddress is null)
            return _ => All;
        if (session.Directory?.Current is not { } directory
            || directory.FindUser(ownerAddress) is not { Enabled: true } owner
            || directory.FindUser(session.Account.User.Email) is not { } user)
            return _ => "";
        if (string.Equals(owner.Email, user.Email, StringComparison.OrdinalIgnoreCase))
            return _ => All;
        var fullAccess = directory.RightsOn(owner, user).HasFlag(MailboxRights.FullAccess) ? FullAccess : "";
        if (!string.Equals(owner.OrganizationId, user.OrganizationId, StringComparison.Ordinal))
            return _ => fullAccess;
        var acl = session.Store.ReadFolderAcl(mailboxId);
        return folderId =>
        {
            var rights = fullAccess;
            if (folderId is not null && acl.GetValueOrDefault(folderId) is { } entries)
            {
                foreach (var (identifier, granted) in entries)
                {
                    if (Names(directory, identifier, user))
                        rights = Union(rights, granted);
                }
            }
            return rights;
        };
    }

    /// <summary>The rights on the selected folder now.</summary>
    public static string OfSelected(ImapSession session) =>
        session.Selected is { } selected ? Of(session, selected.SharedOwner, selected.Folder.MailboxId, selected.FolderId) : "";

    /// <summary>True when a sharing entry's identifier (a user's or a group's primary address) covers
    /// <paramref name="user"/>; a group covers its members, nested groups included, as MailboxPermissions do.</summary>
    public static bool Names(MailDirectory directory, string identifier, DirectoryUser user)
    {
        if (string.Equals(identifier, user.Email, StringComparison.OrdinalIgnoreCase))
            return true;
        return directory.FindGroup(identifier) is { } group
               && directory.ExpandGroup(group).Any(u => string.Equals(u.Email, user.Email, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>True when any folder of <paramref name="owner"/>'s mailbox is shared with the session's user with the
    /// lookup right (the owner then appears under Other Users).</summary>
    public static bool SharesAnyFolderWith(ImapSession session, DirectoryUser owner, string mailboxId)
    {
        if (session.Directory?.Current is not { } directory || directory.FindUser(session.Account.User.Email) is not { } user
            || !string.Equals(owner.OrganizationId, user.OrganizationId, StringComparison.Ordinal))
            return false;
        return session.Store.ReadFolderAcl(mailboxId).Values
            .Any(entries => entries.Any(e => e.Value.Contains('l', StringComparison.Ordinal) && Names(directory, e.Key, user)));
    }

    /// <summary>The rights as a MYRIGHTS or ACL response writes them: with the virtual c when k is held and d when any
    /// of x, t, e is (RFC 4314 §2.1.1 MUST, for RFC 2086 clients).</summary>
    public static string WithVirtual(string rights)
    {
        var result = Canonical(rights);
        if (result.Contains('k', StringComparison.Ordinal))
            result += "c";
        if (result.IndexOfAny(['x', 't', 'e']) >= 0)
            result += "d";
        return result;
    }

    /// <summary>The rights that decide which flags may be changed (s, w, t: RFC 4314 §4 STORE), in canonical order.</summary>
    public static string FlagRights(string rights) => new(Canonical(rights).Where(r => r is 's' or 'w' or 't').ToArray());

    /// <summary>The union of two rights strings in canonical order.</summary>
    public static string Union(string a, string b) => Canonical(a + b);

    /// <summary>The rights among <see cref="All"/> in <paramref name="rights"/>, in canonical order, each once.</summary>
    public static string Canonical(string rights) => new(All.Where(r => rights.Contains(r, StringComparison.Ordinal)).ToArray());

    /// <summary>
    /// A SETACL's third argument (RFC 4314 §3.1): an optional "+" (add) or "-" (remove), then rights letters; c and d
    /// stand for their members (§2.1.1: c = k, d = x t e). Checked before anything else, so a bad one is BAD whoever asks.
    /// </summary>
    /// <returns>The mode ('+', '-' or '=' for replace) and the rights named, canonical.</returns>
    /// <exception cref="ImapSyntaxException">An unknown right (§3.1: an unrecognized right MUST be BAD), uppercase included.</exception>
    public static (char Mode, string Rights) ParseModification(string modification)
    {
        var mode = modification.Length > 0 && modification[0] is '+' or '-' ? modification[0] : '=';
        var letters = mode == '=' ? modification : modification[1..];
        var asked = "";
        foreach (var c in letters)
        {
            asked += c switch
            {
                'c' => "k",
                'd' => "xte",
                _ when All.Contains(c, StringComparison.Ordinal) => c.ToString(),
                _ when char.IsUpper(c) => throw new ImapSyntaxException("Uppercase rights are not allowed"),
                _ => throw new ImapSyntaxException($"The {c} right is not supported"),
            };
        }
        return (mode, Canonical(asked));
    }

    /// <summary>
    /// The rights an entry holds after a SETACL, put onto a role (README "Sharing folders", roles): a replace or an addition
    /// is raised to the smallest role that covers it, a removal lowered to the largest role it still covers (so "-w" on a
    /// contributor really takes w away, leaving a viewer). Empty: the entry goes.
    /// </summary>
    public static string Apply(string existing, char mode, string rights)
    {
        var result = mode switch
        {
            '+' => Union(existing, rights),
            '-' => Canonical(new string(existing.Where(r => !rights.Contains(r, StringComparison.Ordinal)).ToArray())),
            _ => rights,
        };
        if (result.Length == 0)
            return "";
        if (mode == '-')
            return Roles.LastOrDefault(role => role.Rights.All(r => result.Contains(r, StringComparison.Ordinal))).Rights ?? "";
        return Roles.First(role => result.All(r => role.Rights.Contains(r, StringComparison.Ordinal))).Rights;
    }

    /// <summary>RFC 4314 §2.1: APPEND and COPY set \Seen only with s, \Deleted only with t and other flags only with w;
    /// the flags the rights do not cover are left off the stored message rather than refusing it.</summary>
    public static AppendItem KeepSettableFlags(string rights, AppendItem item)
    {
        var flags = item.Flags;
        if (!rights.Contains('s', StringComparison.Ordinal))
            flags &= ~MessageFlags.Seen;
        if (!rights.Contains('t', StringComparison.Ordinal))
            flags &= ~MessageFlags.Deleted;
        if (rights.Contains('w', StringComparison.Ordinal))
            return item with { Flags = flags };
        return item with { Flags = flags & (MessageFlags.Seen | MessageFlags.Deleted), Keywords = [] };
    }

    /// <summary>Refuses a command the rights do not allow: <c>NO [NOPERM]</c> (RFC 4314 §4, RFC 5530).</summary>
    /// <exception cref="ImapRefusedException">The right is not held.</exception>
    public static void Require(string rights, char right, string what)
    {
        if (!rights.Contains(right, StringComparison.Ordinal))
            throw new ImapRefusedException(ResponseCode.NoPermission, $"You may not {what} in this mailbox (the {right} right is not yours)");
    }
}
