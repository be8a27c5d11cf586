using MailServer.Rules.Addressing;

namespace MailServer.Rules.Directory;

/// <summary>An organization as the directory knows it: its id, alias and the domains it owns.</summary>
public sealed record DirectoryOrganization(string Id, string Alias, IReadOnlyList<string> Domains, string DefaultDomain)
{
    /// <summary>
    /// The configured user or group (any of its addresses) that postmaster@ and abuse@ of every domain reach;
    /// null: the organization's first enabled user (<see cref="MailDirectory.PostmasterOf"/>).
    /// </summary>
    public string? Postmaster { get; init; }
}

/// <summary>Where an organization's postmaster@ and abuse@ mail goes (RFC 5321 §4.5.1, RFC 2142 §2).</summary>
/// <param name="Address">The primary address of the user or group that receives it.</param>
/// <param name="IsGroup">True when <paramref name="Address"/> is a group.</param>
/// <param name="Configured">False when no Postmaster is configured and the first enabled user was chosen.</param>
public sealed record DirectoryPostmaster(string Address, bool IsGroup, bool Configured);

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
    private readonly Dictionary<string, DirectoryPostmaster> _postmasterByOrganization = new(StringComparer.Ordinal);

    /// <summary>The local part that RFC 5321 §4.5.1 lets a client send without a domain (<c>RCPT TO:&lt;Postmaster&gt;</c>).</summary>
    public const string BarePostmaster = "postmaster";

    /// <summary>
    /// Local parts every local domain accepts even when no user, alias or group has them: postmaster (RFC 5321
    /// §4.5.1: "MUST support") and abuse (RFC 2142 §2; WorkMail's best practice, §3.1 of the behaviour model, is
    /// both on every domain). Compared case-insensitively.
    /// </summary>
    public static IReadOnlyList<string> RoleLocalParts { get; } = ["postmaster", "abuse"];

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

    /// <summary>
    /// The organization a bare <c>&lt;Postmaster&gt;</c> reaches: the one owning the server name's domain (or a
    /// parent of it), else the first organization; null when there is none.
    /// </summary>
    public DirectoryOrganization? DefaultOrganization { get; private set; }

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
    /// <param name="organizations">Every organization, in configuration order.</param>
    /// <param name="users">Every user, in configuration order (the first enabled one of an organization is its
    /// postmaster unless <see cref="DirectoryOrganization.Postmaster"/> names another).</param>
    /// <param name="groups">Every group.</param>
    /// <param name="permissions">The mailbox permission grants.</param>
    /// <param name="serverName">The server's host name: the organization owning its domain receives bare
    /// <c>&lt;Postmaster&gt;</c> mail (<see cref="DefaultOrganization"/>); null or no match: the first organization.</param>
    public static MailDirectory Build(
        IEnumerable<DirectoryOrganization> organizations,
        IEnumerable<DirectoryUser> users,
        IEnumerable<DirectoryGroup> groups,
        IEnumerable<DirectoryPermission>? permissions = null,
        string? serverName = null)
    {
        var userList = users.ToList();
        var orgs = organizations.ToList();
        var byDomain = new Dictionary<string, DirectoryOrganization>(StringComparer.OrdinalIgnoreCase);
        foreach (var org in orgs)
            foreach (var domain in org.Domains)
                if (!byDomain.TryAdd(domain, org))
                    throw new ArgumentException($"Domain '{domain}' belongs to more than one organization.");

        var userByAddress = new Dictionary<string, DirectoryUser>(StringComparer.OrdinalIgnoreCase);
        foreach (var user in userList)
            foreach (var address in user.Aliases.Prepend(user.Email))
                if (!userByAddress.TryAdd(address, user))
                    throw new ArgumentException($"Address '{address}' is used more than once.");

        var groupByAddress = new Dictionary<string, DirectoryGroup>(StringComparer.OrdinalIgnoreCase);
        foreach (var group in groups)
            foreach (var address in group.Aliases.Prepend(group.Email))
                if (userByAddress.ContainsKey(address) || !groupByAddress.TryAdd(address, group))
                    throw new ArgumentException($"Address '{address}' is used more than once.");

        var directory = new MailDirectory(orgs, byDomain, userByAddress, groupByAddress, permissions?.ToList() ?? []);
        foreach (var org in orgs)
        {
            DirectoryPostmaster? postmaster = null;
            if (org.Postmaster is { } configured)
            {
                if (directory.FindUser(configured) is { } user)
                    postmaster = new DirectoryPostmaster(user.Email, IsGroup: false, Configured: true);
                else if (directory.FindGroup(configured) is { } group)
                    postmaster = new DirectoryPostmaster(group.Email, IsGroup: true, Configured: true);
            }
            postmaster ??= userList.FirstOrDefault(u => u.Enabled && u.OrganizationId == org.Id) is { } first
                ? new DirectoryPostmaster(first.Email, IsGroup: false, Configured: false)
                : null;
            if (postmaster is not null)
                directory._postmasterByOrganization[org.Id] = postmaster;
        }
        directory.DefaultOrganization = OrganizationOfHost(byDomain, serverName) ?? orgs.FirstOrDefault();
        return directory;
    }

    private static DirectoryOrganization? OrganizationOfHost(Dictionary<string, DirectoryOrganization> byDomain, string? host)
    {
        for (var name = host?.Trim().TrimEnd('.'); !string.IsNullOrEmpty(name); name = name.IndexOf('.') is var dot and >= 0 ? name[(dot + 1)..] : null)
            if (byDomain.TryGetValue(name, out var org))
                return org;
        return null;
    }

    /// <summary>
    /// Who receives the organization's postmaster@ and abuse@ mail; null when it has no enabled user and no
    /// Postmaster is configured (then those addresses are unknown, like any other).
    /// </summary>
    public DirectoryPostmaster? PostmasterOf(DirectoryOrganization organization) =>
        _postmasterByOrganization.GetValueOrDefault(organization.Id);

    /// <summary>
    /// The postmaster address that DSNs, quota warnings and other server-made messages come from:
    /// postmaster@ the default domain of <paramref name="organization"/> (or of <see cref="DefaultOrganization"/>).
    /// It resolves to a mailbox whenever the organization has a postmaster (<see cref="PostmasterOf"/>); null
    /// when there is no organization at all.
    /// </summary>
    public string? PostmasterAddress(DirectoryOrganization? organization = null) =>
        (organization ?? DefaultOrganization) is { } org ? BarePostmaster + "@" + org.DefaultDomain : null;

    /// <summary>
    /// The address an envelope recipient stands for: a bare <c>Postmaster</c> (any case, RFC 5321 §4.5.1)
    /// becomes postmaster@ the default domain of <see cref="DefaultOrganization"/>; any other address is returned as is.
    /// </summary>
    public string Qualify(string address) =>
        address.Equals(BarePostmaster, StringComparison.OrdinalIgnoreCase) && PostmasterAddress() is { } qualified ? qualified : address;

    /// <summary>The organization that owns the domain of <paramref name="address"/>, if any.</summary>
    public DirectoryOrganization? OrganizationOf(string address)
    {
        return AddressSyntax.DomainOrNull(address) is { } domain ? _byDomain.GetValueOrDefault(domain) : null;
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
    /// <remarks>
    /// postmaster@ and abuse@ every local domain (and a bare <c>Postmaster</c>, see <see cref="Qualify"/>) that no
    /// user, alias or group claims resolve to the organization's postmaster (<see cref="PostmasterOf"/>).
    /// </remarks>
    public RecipientResolution Resolve(string address)
    {
        address = Qualify(address);
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

        // A real user, alias or group named postmaster@ or abuse@ took precedence above.
        if (IsRoleAddress(address) && PostmasterOf(org) is { } postmaster)
        {
            if (!postmaster.IsGroup)
                return FindUser(postmaster.Address) is { Enabled: true } receiver
                    ? new RecipientResolution.Local(org, [receiver], IsGroup: false)
                    : new RecipientResolution.Disabled(org);
            var receivers = FindGroup(postmaster.Address) is { } receiving ? ExpandGroup(receiving) : [];
            return receivers.Count > 0
                ? new RecipientResolution.Local(org, receivers, IsGroup: true)
                : new RecipientResolution.Disabled(org);
        }

        return new RecipientResolution.UnknownAddress(org);
    }

    /// <summary>True for postmaster@ or abuse@ any domain (<see cref="RoleLocalParts"/>).</summary>
    public static bool IsRoleAddress(string address)
    {
        var at = address.LastIndexOf('@');
        return at > 0 && RoleLocalParts.Any(part => address.AsSpan(0, at).Equals(part, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>
    /// The rights <paramref name="grantee"/> holds on the mailbox of <paramref name="owner"/> (any of its
    /// addresses): grants to the user directly and to every group that contains it, nested groups included
    /// (§5: "Granting mailbox permissions to a group extends those permissions to all the members of that group,
    /// including members of nested groups"). A user has no grant on its own mailbox here.
    /// </summary>
    public MailboxRights RightsOn(DirectoryUser owner, DirectoryUser grantee) => RightsOn(owner.Email, grantee);

    /// <summary>
    /// The rights <paramref name="grantee"/> holds on the user or group that has the address
    /// <paramref name="ownerAddress"/> (any of its addresses): direct grants and grants to groups containing the
    /// grantee, nested groups included. A group owner can only carry Send As and Send On Behalf (configuration
    /// validation refuses Full Access on a group: it has no mailbox). None for an address nobody has.
    /// </summary>
    public MailboxRights RightsOn(string ownerAddress, DirectoryUser grantee)
    {
        if (PrimaryOf(ownerAddress) is not { } owner)
            return MailboxRights.None;
        var rights = MailboxRights.None;
        foreach (var grant in _permissions)
        {
            if (!string.Equals(PrimaryOf(grant.Mailbox), owner, StringComparison.OrdinalIgnoreCase))
                continue;
            if (FindUser(grant.Grantee) is { } user)
            {
                if (string.Equals(user.Email, grantee.Email, StringComparison.OrdinalIgnoreCase))
                    rights |= grant.Rights;
            }
            else if (FindGroup(grant.Grantee) is { } group
                     && ExpandGroup(group).Any(u => string.Equals(u.Email, grantee.Email, StringComparison.OrdinalIgnoreCase)))
            {
                rights |= grant.Rights;
            }
        }
        return rights;
    }

    /// <summary>The primary address of the user or group that has <paramref name="address"/>, else null.</summary>
    public string? PrimaryOf(string address) => FindUser(address)?.Email ?? FindGroup(address)?.Email;

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
