using MailServer.Server.Configuration;

namespace MailServer.Server.WorkMailApi;

/// <summary>USER or GROUP, WorkMail's MemberType/EntityType.</summary>
public enum EntityKind
{
    /// <summary>A user (Organizations[].Users[]).</summary>
    User,
    /// <summary>A group (Organizations[].Groups[]).</summary>
    Group,
}

/// <summary>A user or group of the organization as the API sees it, with its position in the file.</summary>
public sealed record Entity(EntityKind Kind, int Index, string Id, string Name, string Email, bool Enabled, IReadOnlyList<string> Aliases,
    UserConfig? User, GroupConfig? Group)
{
    /// <summary>USER or GROUP.</summary>
    public string TypeName => Kind == EntityKind.User ? "USER" : "GROUP";

    /// <summary>ENABLED or DISABLED.</summary>
    public string State => Enabled ? "ENABLED" : "DISABLED";

    /// <summary>The entry's path in the file.</summary>
    public object[] Path(int organization) =>
        [ConfigLoader.SectionName, "Organizations", organization, Kind == EntityKind.User ? "Users" : "Groups", Index];
}

/// <summary>Finds users and groups the way WorkMail's identifiers do: by entity id, by name, or by email address (or alias).</summary>
public static class Entities
{
    /// <summary>Every user and group of the organization, users first, in file order.</summary>
    public static IReadOnlyList<Entity> All(OrganizationConfig org) =>
        [.. org.Users.Select((u, i) => new Entity(EntityKind.User, i, u.EntityId(org.Id), u.UserName, u.Email, u.Enabled, u.Aliases, u, null)),
         .. org.Groups.Select((g, i) => new Entity(EntityKind.Group, i, g.EntityId(org.Id), g.GroupName, g.Email, g.Enabled, g.Aliases, null, g))];

    /// <summary>The entity <paramref name="identifier"/> names, or null.</summary>
    public static Entity? Find(OrganizationConfig org, string identifier, EntityKind? kind = null)
    {
        var all = All(org).Where(e => kind is null || e.Kind == kind).ToList();
        var id = identifier.Trim();
        return all.FirstOrDefault(e => string.Equals(e.Id, id, StringComparison.OrdinalIgnoreCase))
               ?? all.FirstOrDefault(e => string.Equals(e.Email, id, StringComparison.OrdinalIgnoreCase)
                                          || e.Aliases.Contains(id, StringComparer.OrdinalIgnoreCase))
               ?? all.FirstOrDefault(e => string.Equals(e.Name, id, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>The entity <paramref name="identifier"/> names.</summary>
    /// <exception cref="WorkMailException">EntityNotFoundException.</exception>
    public static Entity Resolve(OrganizationConfig org, string identifier, EntityKind? kind = null) =>
        Find(org, identifier, kind) ?? throw WorkMailException.EntityNotFound(identifier);

    /// <summary>The entity an address (primary or alias) belongs to, or null.</summary>
    public static Entity? OwnerOf(OrganizationConfig org, string address) =>
        All(org).FirstOrDefault(e => string.Equals(e.Email, address, StringComparison.OrdinalIgnoreCase)
                                     || e.Aliases.Contains(address, StringComparer.OrdinalIgnoreCase));
}
