using MailServer.Server.Configuration;

namespace MailServer.Server.ClientSetup;

/// <summary>
/// What a mail client needs to reach this server: the host name it connects to (ServerName) and the listener
/// ports, as configured. Every client-setup answer (autoconfig, autodiscover, Apple profile, SRV records) is
/// built from one of these, so they can never disagree.
/// </summary>
/// <param name="Host">The server's host name (ServerName), without a trailing dot.</param>
/// <param name="Imap">IMAP with STARTTLS.</param>
/// <param name="Imaps">IMAP over implicit TLS.</param>
/// <param name="Submission">Message submission with STARTTLS.</param>
/// <param name="Submissions">Message submission over implicit TLS (RFC 8314).</param>
/// <param name="Https">The HTTPS listener of these endpoints.</param>
public sealed record ClientEndpoints(string Host, int Imap, int Imaps, int Submission, int Submissions, int Https)
{
    /// <summary>The endpoints of a configuration.</summary>
    public static ClientEndpoints From(ServerConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var l = config.Listeners;
        return new ClientEndpoints(config.ServerName.TrimEnd('.'), l.Imap, l.Imaps, l.Submission, l.Submissions, l.Https);
    }

    /// <summary>The https URL of <paramref name="path"/> on this server (the port left out when it is 443).</summary>
    public string HttpsUrl(string path) => Https == 443 ? $"https://{Host}{path}" : $"https://{Host}:{Https}{path}";
}

/// <summary>Finds the organization a domain (or an address in it) belongs to.</summary>
public static class DomainLookup
{
    /// <summary>
    /// The organization and canonical (lower-case) domain of <paramref name="addressOrDomain"/>, which is an
    /// address (its domain counts) or a bare domain; null when no organization has that domain.
    /// </summary>
    public static (OrganizationConfig Organization, string Domain)? Find(ServerConfig config, string? addressOrDomain)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (string.IsNullOrWhiteSpace(addressOrDomain))
            return null;
        var value = addressOrDomain.Trim();
        var at = value.LastIndexOf('@');
        var domain = (at >= 0 ? value[(at + 1)..] : value).TrimEnd('.').ToLowerInvariant();
        foreach (var org in config.Organizations)
            foreach (var d in org.Domains)
                if (d.Name == domain)
                    return (org, domain);
        return null;
    }

    /// <summary>
    /// The domain named by a Host header of the form <c>PREFIX.DOMAIN[:port]</c> (autoconfig.example.com,
    /// mta-sts.example.com), or null when the host does not start with <paramref name="prefix"/>.
    /// </summary>
    public static string? DomainOfHost(string? host, string prefix)
    {
        if (string.IsNullOrEmpty(host))
            return null;
        var name = host;
        var colon = name.LastIndexOf(':');
        if (colon > 0 && !name.EndsWith(']'))
            name = name[..colon];
        name = name.TrimEnd('.').ToLowerInvariant();
        return name.StartsWith(prefix + ".", StringComparison.Ordinal) && name.Length > prefix.Length + 1
            ? name[(prefix.Length + 1)..]
            : null;
    }
}
