namespace MailServer.Rules.Directory;

/// <summary>An organization as the directory knows it: its id, alias and the domains it owns.</summary>
public sealed record DirectoryOrganization(string Id, string Alias, IReadOnlyList<string> Domains, string DefaultDomain);

/// <summary>A user with a mailbox. <see cref="Email"/> is the primary address, lower-cased.</summary>
public sealed record DirectoryUser(
    string OrganizationId,
    string Email,
    string DisplayName,
    IReadOnlyList<string> Aliases,
    string? PasswordHash,
    bool Enabled,
    long MailboxQuotaBytes);

/// <summary>A distribution group: no mailbox of its own; members are user or group addresses.</summary>
public sealed record DirectoryGroup(string OrganizationId, string Email, IReadOnlyList<string> Aliases, IReadOnlyList<string> Members);

/// <summary>The rights a mailbox permission grants (§5). Full Access goes to users only; the others to users or groups.</summary>
[Flags]
public enum MailboxRights
{
    None = 0,
    /// <summary>Open the owner's mailbox (IMAP "Other Users" namespace).</summary>
    FullAccess = 1,
    /// <summary>Send with the owner's address in From and no Sender header.</summary>
    SendAs = 2,
    /// <summary>Send with the owner's address in From and the real sender in Sender.</summary>
    SendOnBehalf = 4,
}

/// <summary>One grant from the config's MailboxPermissions: <see cref="Grantee"/> (a user or group address) on <see cref="Mailbox"/>.</summary>
public sealed record DirectoryPermission(string Mailbox, string Grantee, MailboxRights Rights);

/// <summary>What an envelope recipient address means to this server. A closed set.</summary>
public abstract record RecipientResolution
{
    private RecipientResolution() { }

    /// <summary>The address is ours and reaches these mailboxes (one entry per distinct user, groups expanded).</summary>
    public sealed record Local(DirectoryOrganization Organization, IReadOnlyList<DirectoryUser> Mailboxes, bool IsGroup) : RecipientResolution;

    /// <summary>The domain is ours but no user, alias or group has the address.</summary>
    public sealed record UnknownAddress(DirectoryOrganization Organization) : RecipientResolution;

    /// <summary>The address belongs to a disabled user, or a group none of whose members can receive mail.</summary>
    public sealed record Disabled(DirectoryOrganization Organization) : RecipientResolution;

    /// <summary>The domain belongs to no organization on this server.</summary>
    public sealed record NotLocal : RecipientResolution;
}

/// <summary>
/// The compiled, immutable view of every organization's addresses. Built once per configuration
/// generation and then only read, from any thread. Addresses compare case-insensitively
/// (RFC 5321 §2.4 lets the local part be case-sensitive; like every mainstream server we do not).
/// </summary>
public sealed class MailDirectory
{
    private readonly Dictionary<string, DirectoryOrganization> _byDomain;
    private readonly Dictionary<string, DirectoryUser> _userByAddress;
    private readonly Dictionary<string, DirectoryGroup> _groupByAddress;
    private readonly IReadOnlyList<DirectoryPermission> _permissions;

    private MailDirectory(
        IReadOnlyList<DirectoryOrganization> organizations,
        Dictionary<string, DirectoryOrganization> byDomain,
        Dictionary<string, DirectoryUser> userByAddress,
        Dictionary<string, DirectoryGroup> groupByAddress,
        IReadOnlyList<DirectoryPermission> permissions)
    {
        Organizations = organizations;
        _byDomain = byDomain;
        _userByAddress = userByAddress;
        _groupByAddress = groupByAddress;
        _permissions = permissions;
    }

    /// <summary>Every organization, in configuration order.</summary>
    public IReadOnlyList<DirectoryOrganization> Organizations { get; }

    /// <summary>Every user of every organization.</summary>
    public IEnumerable<DirectoryUser> Users => _userByAddress.Values.Distinct();

    /// <summary>An empty directory: no domain is local.</summary>
    public static MailDirectory Empty { get; } = Build([], [], []);

    /// <summary>Every mailbox permission grant, in configuration order.</summary>
    public IReadOnlyList<DirectoryPermission> Permissions => _permissions;

    /// <summary>
    /// Builds the directory. The caller (configuration validation) has already refused duplicate
    /// addresses and domains; here a duplicate throws.
    /// </summary>
    /// <exception cref="ArgumentException">Two entries claim the same domain or address.</exception>
    public static MailDirectory Build(
        IEnumerable<DirectoryOrganization> organizations,
        IEnumerable<DirectoryUser> users,
        IEnumerable<DirectoryGroup> groups,
        IEnumerable<DirectoryPermission>? permissions = null)
    {
        var orgs = organizations.ToList();
        var byDomain = new Dictionary<string, DirectoryOrganization>(StringComparer.OrdinalIgnoreCase);
        foreach (var org in orgs)
            foreach (var domain in org.Domains)
                if (!byDomain.TryAdd(domain, org))
                    throw new ArgumentException($"Domain '{domain}' belongs to more than one organization.");

        var userByAddress = new Dictionary<string, DirectoryUser>(StringComparer.OrdinalIgnoreCase);
        foreach (var user in users)
            foreach (var address in user.Aliases.Prepend(user.Email))
                if (!userByAddress.TryAdd(address, user))
                    throw new ArgumentException($"Address '{address}' is used more than once.");

        var groupByAddress = new Dictionary<string, DirectoryGroup>(StringComparer.OrdinalIgnoreCase);
        foreach (var group in groups)
            foreach (var address in group.Aliases.Prepend(group.Email))
                if (userByAddress.ContainsKey(address) || !groupByAddress.TryAdd(address, group))
                    throw new ArgumentException($"Address '{address}' is used more than once.");

        return new MailDirectory(orgs, byDomain, userByAddress, groupByAddress, permissions?.ToList() ?? []);
    }

    /// <summary>The organization that owns the domain of <paramref name="address"/>, if any.</summary>
    public DirectoryOrganization? OrganizationOf(string address)
    {
        var at = address.LastIndexOf('@');
        return at < 0 ? null : _byDomain.GetValueOrDefault(address[(at + 1)..]);
    }

    /// <summary>True when the domain part of <paramref name="address"/> is one of ours.</summary>
    public bool IsLocalDomain(string address) => OrganizationOf(address) is not null;

    /// <summary>The user whose primary address or alias is <paramref name="address"/>.</summary>
    public DirectoryUser? FindUser(string address) => _userByAddress.GetValueOrDefault(address);

    /// <summary>The group whose primary address or alias is <paramref name="address"/>.</summary>
    public DirectoryGroup? FindGroup(string address) => _groupByAddress.GetValueOrDefault(address);

    /// <summary>
    /// Resolves an envelope recipient: a user or alias to its mailbox, a group to the distinct enabled
    /// users it contains (nested groups included, cycles ignored).
    /// </summary>
    public RecipientResolution Resolve(string address)
    {
        var org = OrganizationOf(address);
        if (org is null)
            return new RecipientResolution.NotLocal();

        if (FindUser(address) is { } user)
            return user.Enabled
                ? new RecipientResolution.Local(org, [user], IsGroup: false)
                : new RecipientResolution.Disabled(org);

        if (FindGroup(address) is { } group)
        {
            var members = ExpandGroup(group);
            return members.Count > 0
                ? new RecipientResolution.Local(org, members, IsGroup: true)
                : new RecipientResolution.Disabled(org);
        }

        return new RecipientResolution.UnknownAddress(org);
    }

    /// <summary>
    /// The rights <paramref name="grantee"/> holds on the mailbox of <paramref name="owner"/> (any of its
    /// addresses): grants to the user directly and to every group that contains it, nested groups included.
    /// Full Access counts only when granted to the user itself (§5). A user has no grant on its own mailbox here.
    /// </summary>
    public MailboxRights RightsOn(DirectoryUser owner, DirectoryUser grantee)
    {
        var rights = MailboxRights.None;
        foreach (var grant in _permissions)
        {
            if (FindUser(grant.Mailbox) is not { } mailbox || !string.Equals(mailbox.Email, owner.Email, StringComparison.OrdinalIgnoreCase))
                continue;
            if (FindUser(grant.Grantee) is { } user)
            {
                if (string.Equals(user.Email, grantee.Email, StringComparison.OrdinalIgnoreCase))
                    rights |= grant.Rights;
            }
            else if (FindGroup(grant.Grantee) is { } group
                     && ExpandGroup(group).Any(u => string.Equals(u.Email, grantee.Email, StringComparison.OrdinalIgnoreCase)))
            {
                rights |= grant.Rights & ~MailboxRights.FullAccess;
            }
        }
        return rights;
    }

    /// <summary>The users whose mailbox <paramref name="grantee"/> may open with Full Access, in configuration order.</summary>
    public IReadOnlyList<DirectoryUser> FullAccessMailboxesOf(DirectoryUser grantee) =>
        _permissions
            .Where(p => p.Rights.HasFlag(MailboxRights.FullAccess))
            .Select(p => FindUser(p.Mailbox))
            .OfType<DirectoryUser>()
            .DistinctBy(u => u.Email, StringComparer.OrdinalIgnoreCase)
            .Where(owner => RightsOn(owner, grantee).HasFlag(MailboxRights.FullAccess))
            .ToList();

    /// <summary>The distinct enabled users reachable from <paramref name="group"/>, in member order.</summary>
    public IReadOnlyList<DirectoryUser> ExpandGroup(DirectoryGroup group)
    {
        var result = new List<DirectoryUser>();
        var seenUsers = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var seenGroups = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pending = new Stack<DirectoryGroup>();
        pending.Push(group);
        while (pending.Count > 0)
        {
            var current = pending.Pop();
            if (!seenGroups.Add(current.Email))
                continue;
            // Push nested groups in reverse so members come out in configuration order.
            var nested = new List<DirectoryGroup>();
            foreach (var member in current.Members)
            {
                if (FindUser(member) is { } user)
                {
                    if (user.Enabled && seenUsers.Add(user.Email))
                        result.Add(user);
                }
                else if (FindGroup(member) is { } inner)
                {
                    nested.Add(inner);
                }
            }
            for (var i = nested.Count - 1; i >= 0; i--)
                pending.Push(nested[i]);
        }
        return result;
    }
}

/// <summary>Gives the directory of the configuration now in force; live reload swaps it atomically.</summary>
public interface IDirectorySource
{
    /// <summary>The current directory. Read it once per decision and keep that snapshot for the decision.</summary>
    MailDirectory Current { get; }
}
